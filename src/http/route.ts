// A plain HTTP route beside /graphql (probes, metrics, the status page, GraphiQL's assets):
// its own module, so that the routes and the server that serves them do not import each other.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A plain HTTP route beside /graphql (probes, metrics, the status page). */
export type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
