import pg from 'pg';

/**
 * Says once, at the top of the run, whether the PostgreSQL half of the suite runs, and fails the
 * run at once when TEST_DATABASE_URL names a server that does not answer.
 */
export default async function setup(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) {
    console.log(
      'PostgreSQL suite: skipped (set TEST_DATABASE_URL=postgres://… to run every storage test on PostgreSQL too)',
    );
    return;
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ version: string }>('SELECT version()');
    console.log(
      `PostgreSQL suite: enabled on ${url.replace(/:[^:@/]*@/, ':***@')} (${rows[0]?.version.split(',')[0]})`,
    );
  } catch (error) {
    throw new Error(`TEST_DATABASE_URL=${url} does not answer: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
}
