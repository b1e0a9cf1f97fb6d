/**
 * A small line chart in SVG, no library: values over their index, on a fixed [min, max] scale
 * (trust scores are 0–1), with the last point marked and a title per point for hovering.
 */
export interface SparkPoint {
  readonly value: number;
  /** Shown on hover: the time and what changed. */
  readonly label: string;
}

export function Sparkline({
  points,
  min = 0,
  max = 1,
  width = 480,
  height = 120,
  label,
}: {
  points: readonly SparkPoint[];
  min?: number;
  max?: number;
  width?: number;
  height?: number;
  /** The chart's accessible name. */
  label: string;
}) {
  const pad = 6;
  const span = max - min || 1;
  const x = (i: number) =>
    points.length <= 1 ? width / 2 : pad + (i * (width - 2 * pad)) / (points.length - 1);
  const y = (v: number) => pad + (1 - (Math.min(max, Math.max(min, v)) - min) / span) * (height - 2 * pad);
  const path = points
    .map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`)
    .join(' ');
  const last = points[points.length - 1];
  return (
    <svg
      className="sparkline"
      role="img"
      aria-label={label}
      viewBox={`0 0 ${width} ${height}`}
      width="100%"
      style={{ maxWidth: width }}
      preserveAspectRatio="none"
    >
      {[min, (min + max) / 2, max].map((v) => (
        <line key={v} x1={0} x2={width} y1={y(v)} y2={y(v)} stroke="var(--border)" strokeDasharray="3 3" />
      ))}
      {points.length > 0 && <path d={path} fill="none" stroke="var(--accent)" strokeWidth={2} />}
      {points.map((p, i) => (
        <circle key={i} cx={x(i)} cy={y(p.value)} r={points.length > 60 ? 1.5 : 3} fill="var(--accent)">
          <title>{p.label}</title>
        </circle>
      ))}
      {last !== undefined && (
        <text x={width - pad} y={pad + 10} textAnchor="end" fontSize={11} fill="var(--muted)">
          {last.value.toFixed(2)}
        </text>
      )}
    </svg>
  );
}
