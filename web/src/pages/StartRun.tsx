import { useState, type FormEvent } from 'react';
import { api, ApiError, get } from '../api.js';
import { SchemaForm } from '../components/SchemaForm.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { errorText } from '../components/admin-format.js';
import { firstStepAgents, runInputSchema, type JsonSchema } from '../lib/run-input.js';
import {
  fieldErrorsOf,
  initialValue,
  pruneEmpty,
  validateValue,
  type FieldErrors,
} from '../lib/schema-form.js';
import type { AgentView, WorkflowView } from './catalog-types.js';

/** The input schemas of the first steps' agents, by name; an agent the caller cannot read has none. */
async function agentSchemas(workflow: WorkflowView): Promise<Map<string, JsonSchema>> {
  const schemas = new Map<string, JsonSchema>();
  await Promise.all(
    firstStepAgents(workflow.workflow.steps).map(async (name) => {
      try {
        const agent = await get<AgentView>(`/agents/${encodeURIComponent(name)}`);
        if (agent.manifest.input_schema !== undefined) schemas.set(name, agent.manifest.input_schema);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
      }
    }),
  );
  return schemas;
}

/**
 * Starts a run of one version of a workflow with an input form built from what its definition
 * reads (lib/run-input.ts); required fields are checked here, and the server's field errors
 * are shown next to their fields.
 */
export function StartRun({
  workflow,
  onStarted,
  onCancel,
}: {
  workflow: WorkflowView;
  onStarted: (runId: string) => void;
  onCancel: () => void;
}) {
  const schemas = useAdminLoad(() => agentSchemas(workflow), `${workflow.name}@${workflow.version}`);
  const schema =
    schemas.data === null ? undefined : runInputSchema(workflow.workflow.steps, (n) => schemas.data!.get(n));
  return (
    <div className="card cat-start">
      <h2>
        Start {workflow.name}@{workflow.version}
      </h2>
      {schemas.error !== null && <p className="error">{schemas.error}</p>}
      {schema === undefined ? (
        <p className="muted">Loading…</p>
      ) : (
        <StartForm
          key={workflow.version}
          workflow={workflow}
          schema={schema}
          onStarted={onStarted}
          onCancel={onCancel}
        />
      )}
    </div>
  );
}

function StartForm({
  workflow,
  schema,
  onStarted,
  onCancel,
}: {
  workflow: WorkflowView;
  schema: JsonSchema | null;
  onStarted: (runId: string) => void;
  onCancel: () => void;
}) {
  const [value, setValue] = useState<unknown>(() => (schema === null ? {} : initialValue(schema)));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [sending, setSending] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const input = schema === null ? value : pruneEmpty(value);
    const local = schema === null ? {} : validateValue(schema, input);
    if (Object.keys(local).length > 0) {
      setErrors(local);
      return;
    }
    setSending(true);
    try {
      const started = await api<{ id: string }>(
        'POST',
        `/workflows/${encodeURIComponent(workflow.name)}/runs`,
        {
          input: input ?? {},
          version: workflow.version,
        },
      );
      onStarted(started.id);
    } catch (e) {
      const problems = e instanceof ApiError ? (e.problem.errors ?? []) : [];
      const fields = fieldErrorsOf(problems);
      // Anything not about one field is said above the form.
      if (problems.length === 0) fields[''] = errorText(e);
      setErrors(fields);
    } finally {
      setSending(false);
    }
  }

  const formError = schema === null ? undefined : errors[''];
  return (
    <form onSubmit={(e) => void submit(e)} noValidate aria-label="Run input">
      {schema === null && (
        <p className="muted">
          This workflow reads no input fields the form can tell: give its input as JSON.
        </p>
      )}
      {formError !== undefined && (
        <p role="alert" className="error">
          {formError}
        </p>
      )}
      <SchemaForm schema={schema} value={value} onChange={setValue} errors={errors} />
      <div className="cat-actions">
        <button type="submit" disabled={sending}>
          {sending ? 'Starting…' : 'Start'}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
