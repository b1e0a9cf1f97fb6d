#!/usr/bin/env node
/**
 * An MCP server for the researcher example: over stdio, one tool, `search_notes`, that finds the
 * notes (a few facts about Swarm, kept below) whose text contains every word of a query.
 * Declare it for your user, then the researcher can use it:
 *   swarm mcp servers add notes --command node --arg "$PWD/examples/agents/researcher/notes-server.mjs"
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const NOTES = [
  'Swarm keeps every task in the database: a worker killed mid-step loses nothing that was committed.',
  'Swarm runs on SQLite by default and on PostgreSQL in production, with any number of workers.',
  "An agent loop's tool calls run as child tasks, retried and leased like any task.",
  'Budgets cap what model calls spend per step, per run, and per owner per day or month.',
  'Swarm is an MCP server too: each workflow is a tool at /mcp.',
];

const server = new Server({ name: 'swarm-example-notes', version: '1.0.0' }, { capabilities: { tools: {} } });

server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: [
    {
      name: 'search_notes',
      description: 'Finds notes about Swarm whose text contains every word of the query (case-insensitive).',
      inputSchema: {
        type: 'object',
        required: ['query'],
        properties: { query: { type: 'string', description: 'Words to look for, e.g. "mcp workflow"' } },
      },
    },
  ],
}));

server.setRequestHandler(CallToolRequestSchema, async (request) => {
  if (request.params.name !== 'search_notes')
    return { isError: true, content: [{ type: 'text', text: `no tool named ${request.params.name}` }] };
  const query = String(request.params.arguments?.query ?? '').toLowerCase();
  const words = query.split(/\W+/).filter((w) => w.length > 0);
  const found = NOTES.filter((note) => words.every((w) => note.toLowerCase().includes(w)));
  return {
    content: [{ type: 'text', text: found.length === 0 ? 'no notes match' : found.join('\n') }],
    structuredContent: { query, notes: found },
  };
});

await server.connect(new StdioServerTransport());
