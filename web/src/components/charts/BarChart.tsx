import { Axes } from './Axes.js';
import { CHART_HEIGHT, formatTime, niceMax, PAD } from './scale.js';
import type { Series } from './LineChart.js';
import { useWidth } from './useWidth.js';
import './charts.css';

/**
 * Stacked bars over time buckets (one stack per bucket, one segment per series). Plain SVG,
 * sized to its container; each bar's title lists the bucket's values on hover.
 */
export function BarChart({
  title,
  times,
  series,
  withDate = false,
}: {
  title: string;
  times: readonly string[];
  series: readonly Series[];
  withDate?: boolean;
}) {
  const { ref, width } = useWidth<HTMLDivElement>();
  const totals = times.map((_, i) => series.reduce((n, s) => n + (s.values[i] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotW = Math.max(10, width - PAD.left - PAD.right);
  const plotH = CHART_HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, times.length);
  const barW = Math.max(1, slot * 0.7);
  return (
    <figure className="chart" ref={ref}>
      <figcaption>
        {title}
        {series.map((s) => (
          <span key={s.name} className="chart-key">
            <i style={{ background: s.color }} />
            {s.name}
          </span>
        ))}
      </figcaption>
      <svg width={width} height={CHART_HEIGHT} role="img" aria-label={title}>
        <Axes width={width} max={max} times={times} withDate={withDate} />
        {times.map((time, i) => {
          let base = 0;
          const left = PAD.left + i * slot + (slot - barW) / 2;
          return (
            <g key={time}>
              {series.map((s) => {
                const v = s.values[i] ?? 0;
                const h = (v / max) * plotH;
                base += h;
                return v > 0 ? (
                  <rect
                    key={s.name}
                    x={left}
                    y={PAD.top + plotH - base}
                    width={barW}
                    height={h}
                    fill={s.color}
                  />
                ) : null;
              })}
              <rect x={PAD.left + i * slot} y={PAD.top} width={slot} height={plotH} className="chart-hover">
                <title>
                  {`${formatTime(time, true)}\n${series.map((s) => `${s.name}: ${s.values[i] ?? 0}`).join('\n')}`}
                </title>
              </rect>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
