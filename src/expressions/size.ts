/**
 * Whether a value's JSON is larger than `max` bytes, walking it (iteratively, so a deep value
 * cannot overflow the stack) and stopping as soon as the count passes `max`: the cost is
 * bounded by the limit, not by the value. Short strings count their length (exact for ASCII),
 * longer ones their UTF-8 bytes; escapes are not counted.
 */
export function jsonExceeds(value: unknown, max: number): boolean {
  let total = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    switch (typeof next) {
      case 'string':
        total += (next.length > 64 ? Buffer.byteLength(next, 'utf8') : next.length) + 2;
        break;
      case 'number':
        total += 8;
        break;
      case 'boolean':
        total += 5;
        break;
      case 'object':
        if (next === null) {
          total += 4;
        } else if (Array.isArray(next)) {
          // Every item adds at least a comma: a list too long for the limit stops here, unwalked.
          total += 2 + next.length;
          if (total > max) return true;
          for (const item of next as unknown[]) pending.push(item);
        } else {
          total += 2;
          for (const key in next) {
            if (!Object.prototype.hasOwnProperty.call(next, key)) continue;
            total += key.length + 4;
            if (total > max) return true;
            pending.push((next as Record<string, unknown>)[key]);
          }
        }
        break;
      default:
        // undefined and functions are left out of JSON.
        break;
    }
    if (total > max) return true;
  }
  return false;
}
