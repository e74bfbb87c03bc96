// The form of a Billing record action (extend trial, comp a plan, retry payment), bundled by AdminJS for the
// browser. What the form asks for comes from the action's own GET (admin/console/resources/billing.ts), so the
// plans and unpaid invoices offered are those of now; the POST runs the staff command, whose notice is shown.
import React, { useEffect, useState } from 'react';
import { useNavigate } from 'react-router';
import { ApiClient, useNotice } from 'adminjs';
import { Box, Button, Label, Text } from '@adminjs/design-system';

const api = new ApiClient();

/** An instant as a datetime-local input shows it: the staff member's own time zone. */
const toLocalInput = (iso) => {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
};

const inputStyle = { padding: '8px', minWidth: '320px', fontSize: '14px' };

const BillingActionForm = ({ resource, action, record }) => {
  const [form, setForm] = useState(null);
  const [value, setValue] = useState('');
  const [error, setError] = useState(null);
  const [sending, setSending] = useState(false);
  const addNotice = useNotice();
  const navigate = useNavigate();

  useEffect(() => {
    api
      .recordAction({ resourceId: resource.id, recordId: record.id, actionName: action.name })
      .then(({ data }) => {
        if (data.notice && data.notice.type === 'error') addNotice(data.notice);
        if (!data.form) return;
        setForm(data.form);
        setValue(data.form.kind === 'datetime' ? toLocalInput(data.form.value) : (data.form.value ?? data.form.options?.[0]?.value ?? ''));
      })
      .catch((err) => setError(String(err)));
  }, [resource.id, record.id, action.name]);

  const submit = (event) => {
    event.preventDefault();
    setSending(true);
    const body = new FormData();
    // The browser's local time, sent as the instant it names.
    body.set(form.field, form.kind === 'datetime' && value ? new Date(value).toISOString() : value);
    api
      .recordAction({ resourceId: resource.id, recordId: record.id, actionName: action.name, data: body })
      .then(({ data }) => {
        if (data.notice) addNotice(data.notice);
        if (data.redirectUrl) navigate(data.redirectUrl);
      })
      .catch((err) => setError(String(err)))
      .finally(() => setSending(false));
  };

  if (error) return <Text>{error}</Text>;
  if (!form) return <Text>Loading…</Text>;
  return (
    <Box as="form" onSubmit={submit} variant="container" data-testid="billing-action-form">
      <Label htmlFor="billing-action-value">{form.label}</Label>
      {form.kind === 'datetime' ? (
        <input id="billing-action-value" type="datetime-local" style={inputStyle} value={value} onChange={(e) => setValue(e.target.value)} />
      ) : form.options.length === 0 ? (
        <Text>Nothing to choose from.</Text>
      ) : (
        <select id="billing-action-value" style={inputStyle} value={value} onChange={(e) => setValue(e.target.value)}>
          {form.options.map((option) => (
            <option key={option.value} value={option.value}>
              {option.label}
            </option>
          ))}
        </select>
      )}
      {form.help ? (
        <Text mt="default" mb="lg" variant="sm">
          {form.help}
        </Text>
      ) : null}
      <Button type="submit" variant="contained" disabled={sending}>
        {form.submit}
      </Button>
    </Box>
  );
};

export default BillingActionForm;
