// The staff console's dashboard, bundled by AdminJS (rollup + babel) for the browser. It shows what the
// dashboard handler returns (admin/console/dashboard.ts) and refreshes every five seconds.
import React, { useEffect, useState } from 'react';
import { ApiClient } from 'adminjs';
import { Box, H2, H5, Table, TableHead, TableBody, TableRow, TableCell, Text } from '@adminjs/design-system';

const api = new ApiClient();

const Section = ({ title, children }) => (
  <Box variant="container" mb="xl">
    <H5 mb="lg">{title}</H5>
    {children}
  </Box>
);

const Rows = ({ head, rows }) => (
  <Table>
    <TableHead>
      <TableRow>
        {head.map((h) => (
          <TableCell key={h}>{h}</TableCell>
        ))}
      </TableRow>
    </TableHead>
    <TableBody>
      {rows.map((cells, i) => (
        <TableRow key={i}>
          {cells.map((c, j) => (
            <TableCell key={j}>{c}</TableCell>
          ))}
        </TableRow>
      ))}
    </TableBody>
  </Table>
);

const Dashboard = () => {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    const load = () =>
      api
        .getDashboard()
        .then((response) => live && (setData(response.data), setError(null)))
        .catch((err) => live && setError(String(err)));
    load();
    const timer = setInterval(load, 5000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);
  if (error)
    return (
      <Box variant="grey">
        <Text>Dashboard unavailable: {error}</Text>
      </Box>
    );
  if (!data)
    return (
      <Box variant="grey">
        <Text>Loading…</Text>
      </Box>
    );
  return (
    <Box variant="grey" data-testid="ops-dashboard">
      <H2>Operations</H2>
      <Text mb="xl">
        Events/s: {data.eventsPerSecond === null ? 'measuring…' : data.eventsPerSecond} · head of the log: {data.head ?? '(empty)'} · parked events:{' '}
        {data.parkedTotal} · as of {data.generatedAt}
      </Text>
      <Section title="Projector lag">
        <Rows
          head={['projection', 'lag (events)', 'parked', 'updated']}
          rows={data.projections.map((p) => [p.name + (p.served ? '' : ' (previous)'), p.lag === null ? '?' : p.lag, p.parked, p.updatedAt ?? '-'])}
        />
      </Section>
      <Section title="Queue depths">
        <Rows head={['queue', 'depth', 'meaning']} rows={data.queues.map((q) => [q.name, q.depth, q.detail])} />
      </Section>
      <Section title="Recent failures">
        {data.recentFailures.length === 0 ? (
          <Text>None.</Text>
        ) : (
          <Rows head={['when', 'kind', 'what', 'error']} rows={data.recentFailures.map((f) => [f.at, f.kind, f.what, f.error])} />
        )}
      </Section>
    </Box>
  );
};

export default Dashboard;
