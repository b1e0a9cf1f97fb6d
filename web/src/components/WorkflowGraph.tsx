import { useEffect, useMemo } from 'react';
import {
  Background,
  Controls,
  Handle,
  Position,
  ReactFlow,
  useReactFlow,
  useStore,
  type Edge,
  type Node,
  type NodeProps,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import './workflow-graph.css';
import { layoutDag, stateLabel, type StepStateLike, type WorkflowDefinitionLike } from '../dag/layout.js';
import { SUB_GAP, SUB_HEIGHT, SUB_PER_ROW, type SubNode } from '../dag/sub-nodes.js';

export type { StepStateLike, WorkflowDefinitionLike } from '../dag/layout.js';

export interface WorkflowGraphProps {
  /** The normalised workflow (the API's `workflow` field of a workflow version): its `steps`. */
  readonly definition: WorkflowDefinitionLike;
  /** Each step's live state by step id; without it every node is drawn plain (a definition view). */
  readonly states?: Readonly<Record<string, StepStateLike>>;
  /** Called with a step id when its node is clicked. */
  readonly onSelect?: (stepId: string) => void;
  /** The step drawn as selected. */
  readonly selected?: string | null;
  /** CSS height of the canvas. @default 360 */
  readonly height?: number | string;
  /** Child tasks drawn under their step (a dynamic pattern's plans, subtasks and turns). */
  readonly subNodes?: Readonly<Record<string, readonly SubNode[]>>;
}

interface StepData extends Record<string, unknown> {
  label: string;
  detail: string;
  state: string;
  status: string;
  fanOut: boolean;
  selected: boolean;
}

function StepNode({ data }: NodeProps<Node<StepData>>) {
  return (
    <div
      className={`wg-node wg-${data.status}${data.selected ? ' wg-selected' : ''}`}
      data-status={data.status}
      title={data.detail}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="wg-label">
        {data.fanOut && (
          <span className="wg-fan" aria-label="for each">
            ⋔{' '}
          </span>
        )}
        {data.label}
      </div>
      <div className="wg-state">{data.state}</div>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
}

function GroupFrame({ data }: NodeProps<Node<{ label: string }>>) {
  return <div className="wg-group-label">{data.label}</div>;
}

function SubTaskNode({ data }: NodeProps<Node<{ label: string; status: string }>>) {
  return (
    <div
      className={`wg-sub wg-${data.status}`}
      data-status={data.status}
      data-testid="wg-sub"
      title={data.label}
    >
      {data.label}
    </div>
  );
}

const NODE_TYPES = { step: StepNode, frame: GroupFrame, sub: SubTaskNode };

/**
 * Every node's size is known from the layout, so it is given, never measured. The nodes are
 * rebuilt on every poll of a live run; a node React Flow has to measure is drawn hidden until its
 * ResizeObserver reports, and when two rebuilds fall inside one measurement it never reports again
 * and the node stays hidden (a step vanished from a live run's graph).
 */
const fixedSize = (width: number, height: number) => ({ width, height, style: { width, height } });

/** A step's two handles (React Flow's 6 px dots, centred on the left and right edges). */
const HANDLE = 6;
const stepHandles = (width: number, height: number): NonNullable<Node['handles']> => [
  {
    type: 'target',
    position: Position.Left,
    x: -HANDLE / 2,
    y: (height - HANDLE) / 2,
    width: HANDLE,
    height: HANDLE,
  },
  {
    type: 'source',
    position: Position.Right,
    x: width - HANDLE / 2,
    y: (height - HANDLE) / 2,
    width: HANDLE,
    height: HANDLE,
  },
];

/** The height the sub-nodes take under their step. */
const subBlock = (count: number): number =>
  count === 0 ? 0 : Math.ceil(count / SUB_PER_ROW) * (SUB_HEIGHT + SUB_GAP) + SUB_GAP;

/**
 * A workflow's DAG (layout from `layoutDag`), each step coloured by its state. Read-only: nodes
 * cannot be dragged or connected; a click selects a step.
 */
export function WorkflowGraph({
  definition,
  states,
  onSelect,
  selected = null,
  height = 360,
  subNodes,
}: WorkflowGraphProps) {
  const layout = useMemo(() => layoutDag(definition), [definition]);
  const nodes = useMemo<Node[]>(() => {
    const frames: Node[] = layout.groups.map((g) => ({
      id: `group:${g.id}`,
      type: 'frame',
      position: { x: g.x, y: g.y },
      data: { label: g.label },
      // A dynamic step's frame (a group of one) grows to hold its sub-nodes.
      ...fixedSize(g.width, g.height + subBlock(subNodes?.[g.id]?.length ?? 0)),
      className: 'wg-frame',
      selectable: false,
      draggable: false,
      zIndex: -1,
    }));
    const steps: Node<StepData>[] = layout.nodes.map((n) => {
      const state = states?.[n.id];
      return {
        id: n.id,
        type: 'step',
        position: { x: n.x, y: n.y },
        data: {
          label: n.label,
          detail: n.detail,
          status: state?.status ?? (states === undefined ? 'none' : 'pending'),
          state: states === undefined ? n.detail : stateLabel(state, n.fanOut),
          fanOut: n.fanOut,
          selected: n.id === selected,
        },
        ...fixedSize(n.width, n.height),
        handles: stepHandles(n.width, n.height),
        draggable: false,
        connectable: false,
      };
    });
    const subs: Node[] = layout.nodes.flatMap((n) =>
      (subNodes?.[n.id] ?? []).map((sub, i) => {
        const width = (n.width - SUB_GAP * (SUB_PER_ROW - 1)) / SUB_PER_ROW;
        return {
          id: `sub:${sub.id}`,
          type: 'sub',
          position: {
            x: n.x + (i % SUB_PER_ROW) * (width + SUB_GAP),
            y: n.y + n.height + SUB_GAP + Math.floor(i / SUB_PER_ROW) * (SUB_HEIGHT + SUB_GAP),
          },
          data: { label: sub.label, status: sub.status },
          ...fixedSize(width, SUB_HEIGHT),
          selectable: false,
          draggable: false,
          connectable: false,
        };
      }),
    );
    return [...frames, ...steps, ...subs];
  }, [layout, states, selected, subNodes]);
  const edges = useMemo<Edge[]>(
    () =>
      layout.edges.map((e) => ({
        ...e,
        animated: states?.[e.target]?.status === 'running',
      })),
    [layout, states],
  );

  return (
    <div className="wg" style={{ height }} data-testid="workflow-graph">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={NODE_TYPES}
        fitView
        fitViewOptions={{ padding: 0.1, maxZoom: 1.2 }}
        minZoom={0.1}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={onSelect !== undefined}
        onNodeClick={(_, node) => {
          if (node.type === 'step') onSelect?.(node.id);
        }}
        proOptions={{ hideAttribution: true }}
      >
        <Background />
        <Controls showInteractive={false} />
        <RefitOnResize />
      </ReactFlow>
    </div>
  );
}

/** The graph fits its box again when the box changes size (e.g. the step drawer opens beside it). */
function RefitOnResize() {
  const { fitView } = useReactFlow();
  const width = useStore((state) => state.width);
  const height = useStore((state) => state.height);
  useEffect(() => {
    if (width > 0 && height > 0) void fitView({ padding: 0.1, maxZoom: 1.2 });
  }, [fitView, width, height]);
  return null;
}
