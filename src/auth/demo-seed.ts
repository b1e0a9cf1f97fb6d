import fs from 'node:fs';
import path from 'node:path';
import { SwarmError } from '../errors/index.js';
import { EXAMPLES_DIR, parseDocument, Registry } from '../registry/index.js';
import type { Store, User } from '../storage/index.js';
import { hashPassword, type ScryptParams } from './passwords.js';

/** Seed 004's demo user: a password everyone knows, hence the warnings around it. */
export const DEMO_EMAIL = 'admin@example.com';
export const DEMO_PASSWORD = 'password123';

export interface DemoSeed {
  readonly user: User;
  readonly workflow: string;
  readonly connector: string;
}

/**
 * Seed 004's demo data: the admin `admin@example.com` / `password123` (below the minimum length,
 * the one user allowed to be), a sample workflow (examples/workflows/hello.yaml, builtin agents
 * only, so it runs as is) and a sample `http` connector. Only on an empty store (no user at all):
 * it never mixes a known password into a database in use. Nothing runs it on its own.
 */
export async function seedDemo(store: Store, passwordParams?: ScryptParams): Promise<DemoSeed> {
  const empty = (await store.system.countUsers()) === 0;
  const user = empty
    ? await store.system.insertUserIfAbsent({
        name: 'Demo Admin',
        email: DEMO_EMAIL,
        role: 'admin',
        passwordHash: await hashPassword(DEMO_PASSWORD, passwordParams),
      })
    : null;
  if (user === null)
    throw new SwarmError(
      'CONFLICT',
      `${store.handle.description} is not empty (it has users): the demo data goes only into a new database, e.g. \`DATABASE_URL=sqlite:demo.db swarm db seed --demo\``,
    );
  const caller = { userId: user.id, role: user.role };
  const file = path.join(EXAMPLES_DIR, 'workflows', 'hello.yaml');
  const { workflow } = await new Registry(store)
    .as(caller)
    .workflows.apply(parseDocument(fs.readFileSync(file, 'utf8'), 'yaml', file));
  await store.as(caller).connectors.insert({
    name: 'demo-http',
    type: 'http',
    // A valid http connector (docs/connectors.md): `connector: demo-http` in http_request.
    config: { base_url: 'https://example.com' },
  });
  return { user, workflow: `${workflow.name}@${workflow.version}`, connector: 'demo-http' };
}
