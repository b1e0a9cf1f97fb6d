/**
 * Whether a value's JSON is larger than `max` bytes. A first walk counts every string as three
 * bytes a character (UTF-8's most for a UTF-16 unit) and every number as 24: when even that
 * fits, no string is read — counting a string's UTF-8 bytes flattens one built by `&`, which
 * costs as much as copying it. Only a value that may not fit is counted exactly. Both walks are
 * iterative (a deep value cannot overflow the stack) and stop as soon as the count passes `max`,
 * so the cost is bounded by the limit, not by the value. Escapes are not counted.
 */
export function jsonExceeds(value: unknown, max: number): boolean {
  return exceeds(value, max, true) && exceeds(value, max, false);
}

function exceeds(value: unknown, max: number, upperBound: boolean): boolean {
  let total = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    switch (typeof next) {
      case 'string':
        total += (upperBound ? next.length * 3 : Buffer.byteLength(next, 'utf8')) + 2;
        break;
      case 'number':
        total += upperBound ? 24 : String(next).length;
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
            total += (upperBound ? key.length * 3 : Buffer.byteLength(key, 'utf8')) + 4;
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
