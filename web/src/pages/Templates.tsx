import { useId, useMemo, useState, type FormEvent } from 'react';
import { stringify } from 'yaml';
import { api, ApiError, get } from '../api.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { errorText } from '../components/admin-format.js';
import { href, navigate, type Route } from '../router.js';
import { useCan } from '../session.js';
import type { WorkflowView } from './catalog-types.js';
import './catalog.css';
import './templates.css';

/** GET /api/v1/templates' shapes (docs/templates.md). */
interface TemplateParameter {
  readonly name: string;
  readonly description: string;
  readonly type: 'string' | 'list' | 'integer';
  readonly default?: string | number | readonly string[];
}

interface TemplateView {
  readonly name: string;
  readonly description: string | null;
  readonly pattern: string | null;
  readonly parameters: readonly TemplateParameter[];
  readonly builtin: boolean;
  readonly isPublic: boolean;
  readonly workflow?: Record<string, unknown>;
}

/** Every built-in template declares `name`: the form asks for it as the workflow's name. */
const NAME_PARAMETER = 'name';

/**
 * The "new workflow" page: Swarm's built-in templates, the public ones and the caller's own;
 * `#/templates/NAME` fills one's parameters and creates the workflow from it.
 */
export function TemplatesPage({ route }: { route: Route }) {
  const name = route.segments[1];
  if (name !== undefined) return <NewFromTemplate key={name} name={name} />;
  return <TemplateList />;
}

function kindOf(template: TemplateView): string {
  return template.builtin ? 'built-in' : template.isPublic ? 'public' : 'private';
}

function TemplateList() {
  const canWrite = useCan('workflows:write');
  const { data, error } = useAdminLoad(
    () => get<{ items: TemplateView[] }>('/templates').then((r) => r.items),
    'templates',
  );
  return (
    <section>
      <p className="muted">
        <a href={href('workflows')}>Workflows</a> /
      </p>
      <h1>New workflow</h1>
      <p className="muted">
        Start from a template: one per orchestration pattern and consensus strategy, plus your own.
      </p>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {data === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <table className="table" aria-label="Templates">
          <thead>
            <tr>
              <th>Template</th>
              <th>Pattern</th>
              <th>Parameters</th>
              <th>Kind</th>
            </tr>
          </thead>
          <tbody>
            {data.map((template) => (
              <tr key={template.name} data-template={template.name}>
                <td>
                  <a href={href('templates', template.name)}>{template.name}</a>
                  {template.description && <div className="muted cat-desc">{template.description}</div>}
                </td>
                <td>{template.pattern ?? <span className="muted">–</span>}</td>
                <td>
                  {template.parameters.map((p) => (
                    <span key={p.name} className="cat-tag" title={p.description}>
                      {p.name}
                      {p.default === undefined ? ' *' : ''}
                    </span>
                  ))}
                </td>
                <td>
                  {kindOf(template)}
                  {canWrite && (
                    <a className="tpl-use" href={href('templates', template.name)}>
                      Use
                    </a>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** What the field shows first: the default, a list as comma-separated text. */
function textOf(value: TemplateParameter['default']): string {
  if (value === undefined) return '';
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/** The form field a problem's issue belongs to: a parameter's name, or '' for the whole form. */
function fieldOf(issueField: string, parameters: ReadonlySet<string>): string {
  const path = issueField.replace(/^body\./, '');
  const match = /^parameters\.([A-Za-z_][A-Za-z0-9_]*)/.exec(path);
  if (match !== null && parameters.has(match[1]!)) return match[1]!;
  // The definition's own `name` is the name parameter filled in.
  if (path === 'name' && parameters.has(NAME_PARAMETER)) return NAME_PARAMETER;
  return '';
}

function NewFromTemplate({ name }: { name: string }) {
  const canWrite = useCan('workflows:write');
  const loaded = useAdminLoad(() => get<TemplateView>(`/templates/${encodeURIComponent(name)}`), name);
  const template = loaded.data;
  const yamlText = useMemo(
    () => (template?.workflow === undefined ? '' : stringify(template.workflow, { lineWidth: 0 })),
    [template],
  );
  return (
    <section className="cat-page">
      <p className="muted">
        <a href={href('workflows')}>Workflows</a> / <a href={href('templates')}>New workflow</a> /
      </p>
      <div className="cat-head">
        <h1>New workflow from {name}</h1>
        {template?.pattern && <span className="cat-tag">{template.pattern}</span>}
      </div>
      {template?.description && <p className="muted">{template.description}</p>}
      {loaded.error !== null && (
        <p role="alert" className="error">
          {loaded.error}
        </p>
      )}
      {template === null ? (
        loaded.error === null && <p className="muted">Loading…</p>
      ) : (
        <>
          {canWrite ? (
            <TemplateForm template={template} />
          ) : (
            <p className="muted">You may read templates but not create workflows.</p>
          )}
          <h2>Definition</h2>
          <pre className="cat-yaml" aria-label="Template YAML">
            {yamlText}
          </pre>
        </>
      )}
    </section>
  );
}

function TemplateForm({ template }: { template: TemplateView }) {
  const ids = useId();
  const declared = useMemo(() => new Set(template.parameters.map((p) => p.name)), [template]);
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(template.parameters.map((p) => [p.name, textOf(p.default)])),
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [sending, setSending] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setSending(true);
    // An empty field is left out: its default applies, or the server says it is required.
    const given = Object.fromEntries(Object.entries(values).filter(([, v]) => v.trim() !== ''));
    const { [NAME_PARAMETER]: workflowName, ...parameters } = given;
    try {
      const made = await api<{ workflow: WorkflowView }>(
        'POST',
        `/templates/${encodeURIComponent(template.name)}/instantiate`,
        declared.has(NAME_PARAMETER) && workflowName !== undefined
          ? { name: workflowName, parameters }
          : { parameters: given },
      );
      navigate(`/workflows/${encodeURIComponent(made.workflow.name)}`);
    } catch (e) {
      const issues = e instanceof ApiError ? (e.problem.errors ?? []) : [];
      const byField: Record<string, string> = {};
      for (const issue of issues) {
        const field = fieldOf(issue.field, declared);
        const text = `${issue.field}: ${issue.message}`;
        byField[field] = byField[field] === undefined ? text : `${byField[field]}; ${text}`;
      }
      if (issues.length === 0) byField[''] = errorText(e);
      setErrors(byField);
      setSending(false);
    }
  }

  // The workflow's name first, then the template's own parameters in their declared order.
  const ordered = [...template.parameters].sort(
    (a, b) => Number(b.name === NAME_PARAMETER) - Number(a.name === NAME_PARAMETER),
  );
  return (
    <form className="card cat-form" aria-label="New workflow" noValidate onSubmit={(e) => void submit(e)}>
      {errors[''] !== undefined && (
        <p role="alert" className="error">
          {errors['']}
        </p>
      )}
      {ordered.map((p) => {
        const errorId = `${ids}-${p.name}-error`;
        const hintId = `${ids}-${p.name}-hint`;
        const fieldError = errors[p.name];
        const hint = p.type === 'list' ? `${p.description} (comma-separated)` : p.description;
        return (
          <div key={p.name} className="tpl-field">
            <label>
              {p.name === NAME_PARAMETER ? 'Workflow name' : p.name}
              {p.default === undefined ? ' (required)' : ''}
              <input
                type="text"
                inputMode={p.type === 'integer' ? 'numeric' : undefined}
                value={values[p.name] ?? ''}
                onChange={(e) => setValues({ ...values, [p.name]: e.target.value })}
                placeholder={textOf(p.default)}
                aria-invalid={fieldError === undefined ? undefined : true}
                aria-describedby={fieldError === undefined ? hintId : `${errorId} ${hintId}`}
              />
            </label>
            <span id={hintId} className="muted cat-desc">
              {hint}
            </span>
            {fieldError !== undefined && (
              <span id={errorId} role="alert" className="error">
                {fieldError}
              </span>
            )}
          </div>
        );
      })}
      <div className="cat-actions">
        <button type="submit" disabled={sending}>
          {sending ? 'Creating…' : 'Create workflow'}
        </button>
        <button type="button" className="secondary" onClick={() => navigate('/templates')}>
          Cancel
        </button>
      </div>
    </form>
  );
}
