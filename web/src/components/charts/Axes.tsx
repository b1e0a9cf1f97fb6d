import { CHART_HEIGHT, formatTick, formatTime, PAD } from './scale.js';

/** The y axis (0, half, max with grid lines) and a few time labels under the x axis. */
export function Axes({
  width,
  max,
  times,
  withDate,
  format = formatTick,
}: {
  width: number;
  max: number;
  times: readonly string[];
  withDate: boolean;
  /** How a value on the y axis reads. @default compact numbers */
  format?: (value: number) => string;
}) {
  const plotW = width - PAD.left - PAD.right;
  const plotH = CHART_HEIGHT - PAD.top - PAD.bottom;
  const ticks = [0, max / 2, max];
  const labelEvery = Math.max(1, Math.ceil(times.length / Math.max(2, Math.floor(plotW / 90))));
  return (
    <g className="chart-axes">
      {ticks.map((tick) => {
        const y = PAD.top + plotH - (tick / max) * plotH;
        return (
          <g key={tick}>
            <line x1={PAD.left} x2={width - PAD.right} y1={y} y2={y} className="chart-grid" />
            <text x={PAD.left - 6} y={y + 4} textAnchor="end" className="chart-label">
              {format(tick)}
            </text>
          </g>
        );
      })}
      {times.map((time, i) =>
        i % labelEvery === 0 ? (
          <text
            key={time}
            x={PAD.left + ((i + 0.5) / times.length) * plotW}
            y={CHART_HEIGHT - 6}
            textAnchor="middle"
            className="chart-label"
          >
            {formatTime(time, withDate)}
          </text>
        ) : null,
      )}
    </g>
  );
}
