import { useState, type ReactNode, type UIEvent } from 'react';

export interface VirtualRowsProps {
  /** How many rows there are. */
  readonly count: number;
  /** Every row's height in pixels (fixed: that is what makes windowing cheap). */
  readonly rowHeight: number;
  /** The visible height in pixels; the box scrolls past it. */
  readonly height: number;
  /** Rows drawn beyond each edge of the view, so fast scrolling shows no gaps. @default 8 */
  readonly overscan?: number;
  /** Draws row `index`; the element is positioned by VirtualRows. */
  readonly row: (index: number) => ReactNode;
  readonly className?: string;
  readonly label?: string;
}

/**
 * A scrolling list that mounts only the rows in view (plus `overscan`), so 10,000 rows cost what
 * 30 do. Rows have one fixed height; the inner box has the full height so the scrollbar is true.
 */
export function VirtualRows({
  count,
  rowHeight,
  height,
  overscan = 8,
  row,
  className,
  label,
}: VirtualRowsProps) {
  const [top, setTop] = useState(0);
  const first = Math.max(0, Math.floor(top / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((top + height) / rowHeight) + overscan);
  const items: ReactNode[] = [];
  for (let i = first; i < last; i++)
    items.push(
      <div
        key={i}
        role="row"
        style={{ position: 'absolute', top: i * rowHeight, height: rowHeight, left: 0, right: 0 }}
      >
        {row(i)}
      </div>,
    );
  return (
    <div
      className={className}
      role="rowgroup"
      aria-label={label}
      style={{ height: Math.min(height, count * rowHeight + 2), overflowY: 'auto', position: 'relative' }}
      onScroll={(e: UIEvent<HTMLDivElement>) => setTop(e.currentTarget.scrollTop)}
    >
      <div style={{ height: count * rowHeight, position: 'relative' }}>{items}</div>
    </div>
  );
}
