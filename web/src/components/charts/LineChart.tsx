import { Axes } from './Axes.js';
import { CHART_HEIGHT, formatTick, formatTime, niceMax, PAD } from './scale.js';
import { useWidth } from './useWidth.js';
import './charts.css';

export interface Series {
  readonly name: string;
  /** A CSS colour, usually a variable of the theme: `var(--ok)`. */
  readonly color: string;
  /** One value per bucket; null where there is none (a gap in the line). */
  readonly values: readonly (number | null)[];
}

/**
 * A line chart over time buckets, the first series filled as an area. Plain SVG, sized to its
 * container; each bucket has an invisible column whose title shows every series' value on hover.
 */
export function LineChart({
  title,
  times,
  series,
  format = formatTick,
  withDate = false,
}: {
  title: string;
  times: readonly string[];
  series: readonly Series[];
  format?: (value: number) => string;
  withDate?: boolean;
}) {
  const { ref, width } = useWidth<HTMLDivElement>();
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter((v): v is number => v !== null))));
  const plotW = Math.max(10, width - PAD.left - PAD.right);
  const plotH = CHART_HEIGHT - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + ((i + 0.5) / Math.max(1, times.length)) * plotW;
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const path = (values: readonly (number | null)[]) =>
    values
      .map((v, i) => (v === null ? null : `${i === 0 || values[i - 1] === null ? 'M' : 'L'}${x(i)},${y(v)}`))
      .filter((p) => p !== null)
      .join(' ');
  const first = series[0];
  const area =
    first !== undefined && first.values.every((v) => v !== null) && times.length > 0
      ? `${path(first.values)} L${x(times.length - 1)},${y(0)} L${x(0)},${y(0)} Z`
      : null;
  return (
    <figure className="chart" ref={ref}>
      <figcaption>
        {title}
        {series.length > 1 &&
          series.map((s) => (
            <span key={s.name} className="chart-key">
              <i style={{ background: s.color }} />
              {s.name}
            </span>
          ))}
      </figcaption>
      <svg width={width} height={CHART_HEIGHT} role="img" aria-label={title}>
        <Axes width={width} max={max} times={times} withDate={withDate} format={format} />
        {area !== null && first !== undefined && <path d={area} fill={first.color} className="chart-area" />}
        {series.map((s) => (
          <path key={s.name} d={path(s.values)} stroke={s.color} className="chart-line" />
        ))}
        {/* A dot on each value: a lone value between gaps draws no line. */}
        {series.map((s) =>
          s.values.map((v, i) =>
            v === null ? null : (
              <circle key={`${s.name}-${i}`} cx={x(i)} cy={y(v)} r={2} fill={s.color} className="chart-dot" />
            ),
          ),
        )}
        {times.map((time, i) => (
          <rect
            key={time}
            x={x(i) - plotW / times.length / 2}
            y={PAD.top}
            width={plotW / times.length}
            height={plotH}
            className="chart-hover"
          >
            <title>
              {`${formatTime(time, true)}\n${series
                .map(
                  (s) =>
                    `${s.name}: ${s.values[i] === null || s.values[i] === undefined ? '–' : format(s.values[i]!)}`,
                )
                .join('\n')}`}
            </title>
          </rect>
        ))}
      </svg>
    </figure>
  );
}
