/**
 * Polls `probe` every `everyMs` until it gives something truthy; fails naming `what` after `ms`.
 * A probe through the API counts against its key's rate limit (60 a minute by default): poll
 * such a wait every few hundred ms, or the limit's Retry-After becomes the wait.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  ms = 30_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
