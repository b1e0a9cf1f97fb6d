import { useId, useState, type FormEvent } from 'react';
import { api, ApiError, get } from '../api.js';
import { errorText, formatTime } from '../components/admin-format.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { useCan } from '../session.js';
import './admin.css';
import './llm.css';

type BudgetPeriod = 'day' | 'month';
const PERIODS: readonly BudgetPeriod[] = ['day', 'month'];
const PERIOD_WORDS: Record<BudgetPeriod, { title: string; span: string }> = {
  day: { title: 'Day', span: 'this UTC day' },
  month: { title: 'Month', span: 'this UTC month' },
};

/** GET /api/v1/budgets: a cap left null is no cap on that measure. */
interface Budget {
  readonly period: BudgetPeriod;
  readonly tokens: number | null;
  readonly costUsd: number | null;
  readonly since: string;
  readonly spent: { readonly tokens: number; readonly costUsd: number };
  readonly updatedAt: string;
}

/** GET /api/v1/llm-providers: the key is a secret, named here and never shown. */
interface LlmProvider {
  readonly id: string;
  readonly name: string;
  readonly provider: 'openai' | 'anthropic' | 'ollama' | 'custom';
  readonly model: string | null;
  readonly baseUrl: string | null;
  readonly apiKeySecret: string | null;
  readonly isDefault: boolean;
  readonly active: boolean;
  readonly configuration: Record<string, unknown>;
}

/** What a model call costs and how often one may be made: read from `configuration`. */
function providerLimits(configuration: Record<string, unknown>) {
  const number = (key: string) => {
    const value = configuration[key];
    return typeof value === 'number' && Number.isFinite(value) ? value : null;
  };
  return {
    inputPer1k: number('input_cost_per_1k'),
    outputPer1k: number('output_cost_per_1k'),
    requestsPerMinute: number('requests_per_minute'),
    tokensPerMinute: number('tokens_per_minute'),
  };
}

const count = new Intl.NumberFormat();
/** Dollars with the cents, and more digits only when small sums (a few calls) would show as $0.00. */
function dollars(value: number): string {
  const digits = value !== 0 && Math.abs(value) < 1 ? 4 : 2;
  return `$${value.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: digits })}`;
}
/**
 * Prices per 1,000 tokens are fractions of a cent: every digit the owner typed is kept. One price
 * left out of a priced provider is 0, as the server counts it.
 */
const price = (value: number | null) => `$${value ?? 0}`;

/**
 * The budget form's fields, as the server names them in a problem's `errors`: its own checks say
 * `tokens`, schema validation says `body.tokens`.
 */
type BudgetField = 'tokens' | 'cost_usd';
function budgetFieldOf(field: string): BudgetField | null {
  const bare = field.replace(/^body\./, '');
  return bare === 'tokens' || bare === 'cost_usd' ? bare : null;
}

/** LLM spending: the owner's day and month budgets, and the providers model calls go to. */
export function LlmPage() {
  const canWrite = useCan('providers:write');
  const budgets = useAdminLoad(() => get<{ items: Budget[] }>('/budgets'), 'budgets');
  const providers = useAdminLoad(() => get<{ items: LlmProvider[] }>('/llm-providers'), 'llm-providers');

  return (
    <section className="admin llm">
      <h1>LLM</h1>
      <p className="muted">
        Budgets cap what model calls may spend, counted over every run of yours: past a cap, the next call is
        not made and its step fails with BUDGET_EXCEEDED.
      </p>
      <h2>Budgets</h2>
      {budgets.error !== null && (
        <p role="alert" className="error">
          {budgets.error}
        </p>
      )}
      {budgets.data === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <div className="llm-budgets">
          {PERIODS.map((period) => (
            <BudgetCard
              key={period}
              period={period}
              budget={budgets.data?.items.find((b) => b.period === period) ?? null}
              canWrite={canWrite}
              onChanged={budgets.reload}
            />
          ))}
        </div>
      )}
      <h2>Providers</h2>
      <ProvidersTable providers={providers.data?.items ?? null} error={providers.error} />
    </section>
  );
}

function BudgetCard(props: {
  period: BudgetPeriod;
  budget: Budget | null;
  canWrite: boolean;
  onChanged: () => void;
}) {
  const { period, budget, canWrite, onChanged } = props;
  const words = PERIOD_WORDS[period];
  const [error, setError] = useState<string | null>(null);

  async function remove() {
    if (!window.confirm(`Remove the ${period} budget? Model calls are then not capped per ${period}.`))
      return;
    try {
      await api('DELETE', `/budgets/${period}`);
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
    onChanged();
  }

  return (
    <article className="card llm-budget" aria-label={`${words.title} budget`}>
      <h3>{words.title} budget</h3>
      {budget === null ? (
        <p className="muted">
          No {period} budget: model calls are not capped per {period}.
        </p>
      ) : (
        <>
          <p className="muted">
            Spent {words.span}, since {formatTime(budget.since)}
          </p>
          <SpendBar
            label={`${words.title} tokens`}
            spent={budget.spent.tokens}
            cap={budget.tokens}
            format={(n) => `${count.format(n)} tokens`}
          />
          <SpendBar
            label={`${words.title} cost`}
            spent={budget.spent.costUsd}
            cap={budget.costUsd}
            format={dollars}
          />
        </>
      )}
      {canWrite && (
        <BudgetForm
          // A fresh form (its fields from the server) whenever the budget changes.
          key={budget?.updatedAt ?? 'none'}
          period={period}
          budget={budget}
          onSaved={onChanged}
        />
      )}
      {canWrite && budget !== null && (
        <button
          type="button"
          className="danger llm-remove"
          aria-label={`Remove the ${period} budget`}
          onClick={() => void remove()}
        >
          Remove
        </button>
      )}
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </article>
  );
}

/** Spent against a cap: the bar turns amber at 80% and red once the cap is reached. */
function SpendBar(props: {
  label: string;
  spent: number;
  cap: number | null;
  format: (n: number) => string;
}) {
  const { label, spent, cap, format } = props;
  if (cap === null)
    return (
      <div className="llm-spend">
        <span>
          {label}: {format(spent)} <span className="muted">(no cap)</span>
        </span>
      </div>
    );
  const share = cap > 0 ? spent / cap : 1;
  const level = share >= 1 ? 'over' : share >= 0.8 ? 'near' : 'ok';
  return (
    <div className="llm-spend">
      <span>
        {label}: {format(spent)} <span className="muted">of {format(cap)}</span>
      </span>
      <div
        className={`llm-bar llm-bar-${level}`}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={cap}
        aria-valuenow={Math.min(spent, cap)}
        aria-valuetext={`${format(spent)} of ${format(cap)}`}
      >
        <div style={{ width: `${Math.min(share, 1) * 100}%` }} />
      </div>
    </div>
  );
}

/** A cap as its input shows it: empty when there is none. */
const fieldText = (cap: number | null | undefined) => (cap === null || cap === undefined ? '' : String(cap));

/**
 * Sets the period's caps: an empty field is no cap on that measure. The server is the judge of
 * the values (its problem names the field, shown under it); the inputs only keep out what is
 * plainly not a number.
 */
function BudgetForm(props: { period: BudgetPeriod; budget: Budget | null; onSaved: () => void }) {
  const { period, budget, onSaved } = props;
  const ids = useId();
  const [tokens, setTokens] = useState(fieldText(budget?.tokens));
  const [costUsd, setCostUsd] = useState(fieldText(budget?.costUsd));
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<BudgetField, string>>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    try {
      await api('PUT', `/budgets/${period}`, {
        ...(tokens.trim() === '' ? {} : { tokens: Number(tokens) }),
        ...(costUsd.trim() === '' ? {} : { cost_usd: Number(costUsd) }),
      });
      setFieldErrors({});
      setFormError(null);
      onSaved();
    } catch (e) {
      const byField: Partial<Record<BudgetField, string>> = {};
      const unplaced: string[] = [];
      const issues = e instanceof ApiError ? (e.problem.errors ?? []) : [];
      for (const issue of issues) {
        const field = budgetFieldOf(issue.field);
        if (field === null) unplaced.push(`${issue.field}: ${issue.message}`);
        else byField[field] = `${field}: ${issue.message}`;
      }
      setFieldErrors(byField);
      setFormError(issues.length === 0 ? errorText(e) : unplaced.length > 0 ? unplaced.join('; ') : null);
    } finally {
      setBusy(false);
    }
  }

  const input = (
    field: BudgetField,
    label: string,
    value: string,
    set: (v: string) => void,
    step: string,
  ) => {
    const errorId = `${ids}-${field}-error`;
    const fieldError = fieldErrors[field];
    return (
      <div className="llm-field">
        <label>
          {label}
          <input
            type="number"
            inputMode={step === '1' ? 'numeric' : 'decimal'}
            min={0}
            step={step}
            value={value}
            onChange={(e) => set(e.target.value)}
            aria-invalid={fieldError === undefined ? undefined : true}
            aria-describedby={fieldError === undefined ? undefined : errorId}
          />
        </label>
        {fieldError !== undefined && (
          <span id={errorId} role="alert" className="error llm-field-error">
            {fieldError}
          </span>
        )}
      </div>
    );
  };

  return (
    <form
      className="llm-budget-form"
      aria-label={`Set the ${period} budget`}
      onSubmit={(e) => void submit(e)}
    >
      <div className="admin-row">
        {input('tokens', 'Tokens', tokens, setTokens, '1')}
        {input('cost_usd', 'Cost (USD)', costUsd, setCostUsd, 'any')}
        <button type="submit" disabled={busy}>
          {budget === null ? 'Set' : 'Change'}
        </button>
      </div>
      {formError !== null && (
        <p role="alert" className="error">
          {formError}
        </p>
      )}
    </form>
  );
}

function ProvidersTable({ providers, error }: { providers: LlmProvider[] | null; error: string | null }) {
  if (error !== null)
    return (
      <p role="alert" className="error">
        {error}
      </p>
    );
  if (providers === null) return <p className="muted">Loading…</p>;
  if (providers.length === 0)
    return (
      <p className="muted">
        No LLM providers yet: set one with <code>swarm llm providers set</code>.
      </p>
    );
  return (
    <>
      <table className="table llm-providers" aria-label="LLM providers">
        <thead>
          <tr>
            <th>Name</th>
            <th>Kind</th>
            <th>Default model</th>
            <th>Base URL</th>
            <th>Key (secret)</th>
            <th>Price per 1k tokens</th>
            <th>Limits per minute</th>
            <th>State</th>
          </tr>
        </thead>
        <tbody>
          {providers.map((p) => {
            const limits = providerLimits(p.configuration);
            const priced = limits.inputPer1k !== null || limits.outputPer1k !== null;
            return (
              <tr key={p.id}>
                <td>
                  <code>{p.name}</code>
                  {p.isDefault && <span className="status status-active llm-default">default</span>}
                </td>
                <td>{p.provider}</td>
                <td>{p.model ?? <span className="muted">–</span>}</td>
                <td className="llm-url">{p.baseUrl ?? <span className="muted">the kind's default</span>}</td>
                <td>
                  {p.apiKeySecret === null ? (
                    <span className="muted">none</span>
                  ) : (
                    <code>{p.apiKeySecret}</code>
                  )}
                </td>
                <td>
                  {priced ? (
                    <>
                      in {price(limits.inputPer1k)}, out {price(limits.outputPer1k)}
                    </>
                  ) : (
                    // Unpriced: the server's list prices for known models; a local ollama costs nothing.
                    <span className="muted">{p.provider === 'ollama' ? 'none' : 'list price'}</span>
                  )}
                </td>
                <td>
                  {limits.requestsPerMinute === null ? '–' : count.format(limits.requestsPerMinute)} requests,{' '}
                  {limits.tokensPerMinute === null ? '–' : count.format(limits.tokensPerMinute)} tokens
                </td>
                <td>
                  <span className={`status status-${p.active ? 'active' : 'cancelled'}`}>
                    {p.active ? 'active' : 'inactive'}
                  </span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p className="muted">
        Without prices of its own a provider is charged at the list price of known models (none for ollama or
        unknown models). Limits per minute are shared by every worker; a call past them waits.
      </p>
    </>
  );
}
