// An organization's invoices on the Billing show page (the record's `invoices`, newest first), with the links
// Stripe gives: the hosted page (where the customer can pay) and the PDF.
import React from 'react';
import { Box, Label, Link, Table, TableBody, TableCell, TableHead, TableRow, Text } from '@adminjs/design-system';

const money = (amount, currency) => `${String(currency).toUpperCase()} ${(amount / 100).toFixed(2)}`;

const BillingInvoices = ({ record, property }) => {
  let invoices = [];
  try {
    invoices = JSON.parse(record.params[property.path] || '[]');
  } catch {
    invoices = [];
  }
  return (
    <Box mb="xl" data-testid="billing-invoices">
      <Label>{property.label}</Label>
      {invoices.length === 0 ? (
        <Text>No invoice reported yet.</Text>
      ) : (
        <Table>
          <TableHead>
            <TableRow>
              {['number', 'amount', 'status', 'failed attempts', 'first reported', 'links'].map((h) => (
                <TableCell key={h}>{h}</TableCell>
              ))}
            </TableRow>
          </TableHead>
          <TableBody>
            {invoices.map((invoice) => (
              <TableRow key={invoice.id}>
                <TableCell>{invoice.number ?? invoice.id}</TableCell>
                <TableCell>{money(invoice.amount, invoice.currency)}</TableCell>
                <TableCell>
                  {invoice.status === 'paid' ? 'paid' : `unpaid (payment failed${invoice.lastDeclineCode ? `: ${invoice.lastDeclineCode}` : ''})`}
                </TableCell>
                <TableCell>{invoice.attempts}</TableCell>
                <TableCell>{invoice.createdAt}</TableCell>
                <TableCell>
                  {invoice.hostedInvoiceUrl ? (
                    <Link href={invoice.hostedInvoiceUrl} target="_blank" rel="noopener noreferrer" mr="default">
                      hosted page
                    </Link>
                  ) : null}
                  {invoice.pdfUrl ? (
                    <Link href={invoice.pdfUrl} target="_blank" rel="noopener noreferrer">
                      PDF
                    </Link>
                  ) : null}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </Box>
  );
};

export default BillingInvoices;
