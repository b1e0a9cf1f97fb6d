import { sql, type CreateTableBuilder, type Kysely, type OnModifyForeignAction } from 'kysely';
import type { DialectAdapter, LogicalType } from '../dialect/dialect.js';

type Default = 'now' | boolean | number | string | { readonly json: unknown };

export interface ColumnOptions {
  readonly notNull?: boolean;
  readonly default?: Default;
  /** A CHECK over this column, written in SQL both dialects accept. */
  readonly check?: string;
  readonly unique?: boolean;
  /** A foreign key to `table(id)`. Every foreign key is DEFERRABLE so bulk copies can defer them. */
  readonly references?: { readonly table: string; readonly onDelete?: OnModifyForeignAction };
}

/**
 * Schema written once for both dialects: logical column kinds, portable CHECKs, named
 * constraints. The dialect adapter supplies types and defaults.
 */
export class TableDefinition {
  private builder: CreateTableBuilder<string, string>;

  constructor(
    private readonly db: Kysely<unknown>,
    private readonly dialect: DialectAdapter,
    readonly table: string,
  ) {
    this.builder = db.schema.createTable(table);
  }

  /** The primary key: a text UUID (v7, so ids sort by creation time). */
  id(): this {
    this.builder = this.builder.addColumn('id', this.dialect.type('text'), (c) => c.primaryKey().notNull());
    return this;
  }

  /** The owning user: every owned row carries it, and the storage API filters by it. */
  owner(options: { nullable?: boolean } = {}): this {
    return this.column('owner_id', 'text', {
      notNull: !options.nullable,
      references: { table: 'users', onDelete: 'restrict' },
    });
  }

  column(name: string, type: LogicalType, options: ColumnOptions = {}): this {
    this.builder = this.builder.addColumn(name, this.dialect.type(type), (c) => {
      let col = c;
      if (options.notNull) col = col.notNull();
      if (options.unique) col = col.unique();
      if (options.default !== undefined) col = col.defaultTo(this.defaultValue(options.default));
      return col;
    });
    if (options.check !== undefined) this.check(`${name}`, options.check);
    if (options.references !== undefined) {
      const { table, onDelete = 'no action' } = options.references;
      this.builder = this.builder.addForeignKeyConstraint(
        `fk_${this.table}_${name}`,
        [name],
        table,
        ['id'],
        (fk) => fk.onDelete(onDelete).deferrable().initiallyImmediate(),
      );
    }
    return this;
  }

  text(name: string, options?: ColumnOptions): this {
    return this.column(name, 'text', options);
  }
  integer(name: string, options?: ColumnOptions): this {
    return this.column(name, 'integer', options);
  }
  bigint(name: string, options?: ColumnOptions): this {
    return this.column(name, 'bigint', options);
  }
  real(name: string, options?: ColumnOptions): this {
    return this.column(name, 'real', options);
  }
  boolean(name: string, options?: ColumnOptions): this {
    return this.column(name, 'boolean', options);
  }
  json(name: string, options?: ColumnOptions): this {
    return this.column(name, 'json', options);
  }
  timestamp(name: string, options?: ColumnOptions): this {
    return this.column(name, 'timestamp', options);
  }
  blob(name: string, options?: ColumnOptions): this {
    return this.column(name, 'blob', options);
  }

  /** `created_at` and `updated_at`, both set on insert. */
  timestamps(): this {
    return this.timestamp('created_at', { notNull: true, default: 'now' }).timestamp('updated_at', {
      notNull: true,
      default: 'now',
    });
  }

  createdAt(): this {
    return this.timestamp('created_at', { notNull: true, default: 'now' });
  }

  check(name: string, expression: string): this {
    this.builder = this.builder.addCheckConstraint(`chk_${this.table}_${name}`, sql.raw(expression));
    return this;
  }

  unique(name: string, columns: string[]): this {
    this.builder = this.builder.addUniqueConstraint(`uq_${this.table}_${name}`, columns);
    return this;
  }

  async create(): Promise<void> {
    await this.builder.execute();
  }

  private defaultValue(value: Default) {
    if (value === 'now') return this.dialect.nowDefault;
    if (typeof value === 'boolean') return this.dialect.boolDefault(value);
    if (typeof value === 'object') return this.dialect.jsonDefault(value.json);
    return value;
  }
}

/** The SQL of a list of allowed values, for CHECK constraints. */
export function oneOf(column: string, values: readonly string[]): string {
  return `${column} IN (${values.map((v) => `'${v.replaceAll("'", "''")}'`).join(', ')})`;
}

export function between(column: string, low: number, high: number): string {
  return `${column} >= ${low} AND ${column} <= ${high}`;
}

export interface IndexOptions {
  readonly unique?: boolean;
  /** A partial index: rows matching this SQL only. */
  readonly where?: string;
  /** PostgreSQL-only index method (GIN on JSONB); SQLite skips the index. */
  readonly postgresUsing?: 'gin';
}

/** Creates an index; `columns` may carry ` desc`. */
export async function createIndex(
  db: Kysely<unknown>,
  dialect: DialectAdapter,
  name: string,
  table: string,
  columns: string[],
  options: IndexOptions = {},
): Promise<void> {
  if (options.postgresUsing !== undefined && dialect.name !== 'postgres') return;
  let builder = db.schema.createIndex(name).on(table).columns(columns);
  if (options.unique) builder = builder.unique();
  if (options.postgresUsing !== undefined) builder = builder.using(options.postgresUsing);
  if (options.where !== undefined) builder = builder.where(sql.raw<boolean>(options.where));
  await builder.execute();
}

export interface Migration {
  /** Increasing, never reused, never edited once landed. */
  readonly version: number;
  readonly name: string;
  /**
   * SQLite: apply it with foreign key enforcement off (set outside its transaction, where the
   * pragma works), because it rebuilds a table others reference; it checks them itself before
   * committing (`PRAGMA foreign_key_check`). PostgreSQL ignores this.
   */
  readonly foreignKeysOff?: boolean;
  up(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void>;
}

export function table(db: Kysely<unknown>, dialect: DialectAdapter, name: string): TableDefinition {
  return new TableDefinition(db, dialect, name);
}
