import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/** The SDK's own client, connected to a Swarm server's `/mcp` with an API key. */
export async function connectMcp(serverUrl: string, key: string): Promise<Client> {
  const client = new Client({ name: 'swarm-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', serverUrl), {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  return client;
}

/** `tools/call`, its result typed as a tool result (the SDK's return type also allows tasks). */
export async function callTool(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** The JSON text of a resource. */
export async function readJson(client: Client, uri: string): Promise<Record<string, unknown>> {
  const { contents } = await client.readResource({ uri });
  const first = contents[0] as { text?: string } | undefined;
  return JSON.parse(first?.text ?? 'null') as Record<string, unknown>;
}

/** A JSON-RPC request POSTed as an MCP client would, without the SDK. */
export function postMcp(
  serverUrl: string,
  key: string | undefined,
  body: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(new URL('/mcp', serverUrl), {
    method: 'POST',
    headers: {
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      ...headers,
    },
    body,
  });
}
