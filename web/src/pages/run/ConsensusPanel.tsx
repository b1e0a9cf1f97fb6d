import type { ConsensusView } from './types.js';

const short = (value: unknown) => JSON.stringify(value);

interface TallyEntry {
  readonly value: unknown;
  readonly count: number;
  readonly weight?: number;
  readonly members?: readonly string[];
}

/**
 * A consensus step's decision as recorded (consensus_results): the decision and its confidence,
 * how it was reached (the tally and weights and quorum, or the judge's choice and reasoning),
 * and each member's result.
 */
export function ConsensusPanel({ consensus }: { readonly consensus: ConsensusView }) {
  const d = consensus.details;
  const tally = Array.isArray(d.tally) ? (d.tally as TallyEntry[]) : [];
  const weights = (d.weights ?? {}) as Record<string, number>;
  const decided = consensus.finalResult !== null;
  return (
    <section aria-label="Consensus" data-testid="consensus">
      <h3>Consensus ({consensus.strategy.replaceAll('_', ' ')})</h3>
      <dl className="run-facts">
        <dt>Decision</dt>
        <dd data-testid="consensus-decision">
          {decided ? (
            <code>{short(consensus.finalResult)}</code>
          ) : (
            <span className="error">none (no quorum)</span>
          )}
        </dd>
        {consensus.confidence !== null && (
          <>
            <dt>Confidence</dt>
            <dd data-testid="consensus-confidence">{Math.round(consensus.confidence * 100)}%</dd>
          </>
        )}
        {d.quorum !== undefined && d.quorum !== null && (
          <>
            <dt>Quorum</dt>
            <dd>
              {String(d.quorum)} {d.reached === true ? '(reached)' : '(missed)'}
            </dd>
          </>
        )}
        {typeof d.reasoning === 'string' && (
          <>
            <dt>Judge</dt>
            <dd data-testid="consensus-reasoning">
              chose candidate {String(d.choice)}: {d.reasoning}
            </dd>
          </>
        )}
      </dl>
      {tally.length > 0 && (
        <table className="table" aria-label="Votes">
          <thead>
            <tr>
              <th>Result</th>
              <th>Votes</th>
              {consensus.strategy === 'weighted' && <th>Weight</th>}
              <th>Members</th>
            </tr>
          </thead>
          <tbody>
            {tally.map((v) => (
              <tr key={short(v.value)}>
                <td>
                  <code>{short(v.value)}</code>
                </td>
                <td>{v.count}</td>
                {consensus.strategy === 'weighted' && <td>{v.weight ?? ''}</td>}
                <td className="muted">{(v.members ?? []).join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h4>Members</h4>
      <ul className="run-logs" aria-label="Member results">
        {Object.entries(consensus.agentResults).map(([step, r]) => (
          <li key={step}>
            <b>{step}</b> <span className="muted">{r.agent ?? ''}</span>
            {weights[step] !== undefined && <span className="muted"> (trust {weights[step]})</span>}:{' '}
            <code>{short(r.output)}</code>
          </li>
        ))}
      </ul>
    </section>
  );
}
