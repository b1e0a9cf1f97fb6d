/** Whether `column` holds one primitive value (or none) in every row: bound once, as a scalar. */
export function sameInEveryRow(rows: readonly Record<string, unknown>[], column: string): boolean {
  const first = rows[0]?.[column] ?? null;
  if (first !== null && typeof first === 'object') return false;
  for (const row of rows) if ((row[column] ?? null) !== first) return false;
  return true;
}
