/** A "nice" upper bound for an axis (1, 2, 5 × 10ⁿ) at or above the largest value. */
export function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** A tick label: compact for large numbers, a few digits for small ones. */
export function formatTick(value: number): string {
  if (value >= 1_000_000) return `${+(value / 1_000_000).toFixed(1)}M`;
  if (value >= 1_000) return `${+(value / 1_000).toFixed(1)}k`;
  if (value === 0 || value >= 10) return String(Math.round(value));
  return String(+value.toPrecision(2));
}

/** A bucket's start as a short time (HH:MM), or a date too when the range spans days. */
export function formatTime(iso: string, withDate: boolean): string {
  const d = new Date(iso);
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return withDate ? `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}` : time;
}

export const CHART_HEIGHT = 160;
export const PAD = { top: 10, right: 10, bottom: 22, left: 42 } as const;
