import { useId, useState } from 'react';
import type { JsonSchema } from '../lib/run-input.js';
import { typeOf, type FieldErrors } from '../lib/schema-form.js';
import './schema-form.css';

export interface SchemaFormProps {
  /** The value's JSON Schema; null: a JSON text area for any value. */
  readonly schema: JsonSchema | null;
  readonly value: unknown;
  readonly onChange: (value: unknown) => void;
  /** Messages by dotted path (`name`, `user.email`); '' is about the whole value. */
  readonly errors?: FieldErrors;
}

/**
 * A form for a JSON value from its JSON Schema: strings, numbers, integers, booleans, enums,
 * objects and arrays, required fields marked. Anything else (no type, oneOf, …) is edited as
 * JSON text, and so is the whole value when there is no schema.
 */
export function SchemaForm({ schema, value, onChange, errors = {} }: SchemaFormProps) {
  return (
    <div className="sf">
      {schema === null ? (
        <JsonField label="Input (JSON)" value={value} onChange={onChange} error={errors['']} />
      ) : (
        <Field
          schema={schema}
          value={value}
          onChange={onChange}
          errors={errors}
          path=""
          label={null}
          required
        />
      )}
    </div>
  );
}

interface FieldProps {
  readonly schema: JsonSchema;
  readonly value: unknown;
  readonly onChange: (value: unknown) => void;
  readonly errors: FieldErrors;
  readonly path: string;
  /** null: the root object, drawn without a frame. */
  readonly label: string | null;
  readonly required: boolean;
}

function Field({ schema, value, onChange, errors, path, label, required }: FieldProps) {
  const id = useId();
  const type = typeOf(schema);
  const error = errors[path];
  const title =
    label === null ? null : (
      <>
        {schema.title ?? label}
        {required && (
          <span className="sf-required" aria-label="required">
            {' '}
            *
          </span>
        )}
      </>
    );
  const help =
    schema.description === undefined ? null : <span className="muted sf-help">{schema.description}</span>;
  const problem =
    error === undefined ? null : (
      <span className="error sf-error" role="alert" id={`${id}-error`}>
        {error}
      </span>
    );
  const described = error === undefined ? {} : { 'aria-invalid': true, 'aria-describedby': `${id}-error` };

  if (type === 'object' && schema.properties !== undefined) {
    const record = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
    const children = Object.entries(schema.properties).map(([key, child]) => (
      <Field
        key={key}
        schema={child}
        value={record[key]}
        onChange={(next) => onChange({ ...record, [key]: next })}
        errors={errors}
        path={path === '' ? key : `${path}.${key}`}
        label={key}
        required={schema.required?.includes(key) ?? false}
      />
    ));
    if (label === null)
      return (
        <div className="sf-object">
          {problem}
          {children}
        </div>
      );
    return (
      <fieldset className="sf-object">
        <legend>{title}</legend>
        {help}
        {problem}
        {children}
      </fieldset>
    );
  }

  if (schema.enum !== undefined) {
    const options = schema.enum;
    const index = options.findIndex((o) => JSON.stringify(o) === JSON.stringify(value));
    return (
      <label htmlFor={id}>
        <span>{title}</span>
        <select
          id={id}
          value={index === -1 ? '' : String(index)}
          onChange={(e) => onChange(e.target.value === '' ? undefined : options[Number(e.target.value)])}
          {...described}
        >
          <option value="">—</option>
          {options.map((o, i) => (
            <option key={i} value={String(i)}>
              {typeof o === 'string' ? o : JSON.stringify(o)}
            </option>
          ))}
        </select>
        {help}
        {problem}
      </label>
    );
  }

  if (type === 'string' || type === 'number' || type === 'integer') {
    const numeric = type !== 'string';
    return (
      <label htmlFor={id}>
        <span>{title}</span>
        <input
          id={id}
          type={numeric ? 'number' : 'text'}
          step={type === 'integer' ? 1 : 'any'}
          value={value === undefined || value === null ? '' : String(value)}
          onChange={(e) => {
            const text = e.target.value;
            onChange(numeric ? (text === '' ? undefined : Number(text)) : text);
          }}
          {...described}
        />
        {help}
        {problem}
      </label>
    );
  }

  if (type === 'boolean') {
    return (
      <label htmlFor={id} className="sf-check">
        <span>
          <input
            id={id}
            type="checkbox"
            checked={value === true}
            onChange={(e) => onChange(e.target.checked)}
          />{' '}
          {title}
        </span>
        {help}
        {problem}
      </label>
    );
  }

  if (type === 'array' && schema.items !== undefined) {
    const items = Array.isArray(value) ? value : [];
    return (
      <fieldset className="sf-array">
        <legend>{title ?? 'Items'}</legend>
        {help}
        {problem}
        {items.map((item, i) => (
          <div className="sf-item" key={i}>
            <Field
              schema={schema.items!}
              value={item}
              onChange={(next) => onChange(items.map((old, j) => (j === i ? next : old)))}
              errors={errors}
              path={path === '' ? String(i) : `${path}.${i}`}
              label={`${label ?? 'item'} ${i + 1}`}
              required={false}
            />
            <button
              type="button"
              className="secondary"
              aria-label={`Remove ${label ?? 'item'} ${i + 1}`}
              onClick={() => onChange(items.filter((_, j) => j !== i))}
            >
              Remove
            </button>
          </div>
        ))}
        <button type="button" className="secondary" onClick={() => onChange([...items, undefined])}>
          Add {label ?? 'item'}
        </button>
      </fieldset>
    );
  }

  return (
    <JsonField
      label={label ?? 'Input (JSON)'}
      value={value}
      onChange={onChange}
      error={error}
      required={required}
    />
  );
}

/** JSON text for a value of no simple type: the parsed value goes up only while the text is valid. */
function JsonField({
  label,
  value,
  onChange,
  error,
  required = false,
}: {
  label: string;
  value: unknown;
  onChange: (value: unknown) => void;
  error: string | undefined;
  required?: boolean;
}) {
  const id = useId();
  const [text, setText] = useState(() => (value === undefined ? '' : JSON.stringify(value, null, 2)));
  const [invalid, setInvalid] = useState<string | null>(null);
  const message = invalid ?? error;
  return (
    <label htmlFor={id}>
      <span>
        {label}
        {required && <span className="sf-required"> *</span>}
      </span>
      <textarea
        id={id}
        className="sf-json"
        rows={6}
        spellCheck={false}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value.trim() === '') {
            setInvalid(null);
            onChange(undefined);
            return;
          }
          try {
            onChange(JSON.parse(e.target.value));
            setInvalid(null);
          } catch {
            setInvalid('not valid JSON');
          }
        }}
        {...(message === undefined ? {} : { 'aria-invalid': true, 'aria-describedby': `${id}-error` })}
      />
      {message !== undefined && (
        <span className="error sf-error" role="alert" id={`${id}-error`}>
          {message}
        </span>
      )}
    </label>
  );
}
