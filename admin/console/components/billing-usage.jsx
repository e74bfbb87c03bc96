// Usage against the plan's limits on the Billing show page: the record's `usage`, as GET /billing/usage
// computes it for the organization (its period, its plan, a line per limit).
import React from 'react';
import { Box, Label, Table, TableBody, TableCell, TableHead, TableRow, Text } from '@adminjs/design-system';

const names = {
  contacts: 'contacts',
  activeWorkflows: 'active workflows',
  executionsPerMonth: 'executions this period',
  aiTokensPerMonth: 'AI tokens this period',
  seats: 'seats',
};

const BillingUsage = ({ record, property }) => {
  let usage = null;
  try {
    usage = JSON.parse(record.params[property.path] || 'null');
  } catch {
    usage = null;
  }
  if (!usage) return null;
  return (
    <Box mb="xl" data-testid="billing-usage">
      <Label>{property.label}</Label>
      <Text mb="default">
        {usage.plan ? `Plan ${usage.plan.name} (${usage.plan.status})` : 'No plan: nothing is enforced'} · period {usage.period.start} to{' '}
        {usage.period.end} ({usage.period.basis.replace('_', ' ')}, {usage.period.timezone})
      </Text>
      <Table>
        <TableHead>
          <TableRow>
            {['', 'used', 'limit', 'remaining', ''].map((h, i) => (
              <TableCell key={i}>{h}</TableCell>
            ))}
          </TableRow>
        </TableHead>
        <TableBody>
          {Object.entries(usage.usage).map(([key, line]) => (
            <TableRow key={key}>
              <TableCell>{names[key] ?? key}</TableCell>
              <TableCell>{line.used}</TableCell>
              <TableCell>{line.limit === null ? 'unlimited' : line.limit}</TableCell>
              <TableCell>{line.remaining === null ? '-' : line.remaining}</TableCell>
              <TableCell>{line.exceeded ? 'over the limit' : (line.note ?? '')}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Box>
  );
};

export default BillingUsage;
