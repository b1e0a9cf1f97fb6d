/**
 * What a scheduler does with the ticks that came due since it last looked. Ticks later than
 * `graceMs` behind `now` were missed (no scheduler ran then): `skip` drops them, `catch_up` fires
 * the newest `catchUpLimit` of them. Ticks within the grace are on time and always fire.
 */
export function planTicks(
  due: readonly Date[],
  now: Date,
  policy: 'skip' | 'catch_up',
  catchUpLimit: number,
  graceMs: number,
): { fire: Date[]; skipped: Date[] } {
  const missed = due.filter((t) => now.getTime() - t.getTime() > graceMs);
  const onTime = due.filter((t) => now.getTime() - t.getTime() <= graceMs);
  if (policy === 'skip') return { fire: onTime, skipped: missed };
  const keep = Math.max(0, Math.min(catchUpLimit, missed.length));
  return {
    fire: [...missed.slice(missed.length - keep), ...onTime],
    skipped: missed.slice(0, missed.length - keep),
  };
}
