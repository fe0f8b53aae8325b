// The page's GraphQL client: queries and mutations over HTTP (fetch), live events over
// graphql-ws — its browser build (served by our own route from node_modules) sets
// globalThis.graphqlWs. A token, when given, goes as `Authorization: Bearer …` over HTTP and
// as connectionParams.authorization over the WebSocket, as for any other client.

const HEALTH_QUERY = `query StatusPageHealth {
  tableHealth {
    configId table state reasons stale late freshnessSlaHours lateAfter lastRefreshAt nextRefreshAt failureStreak qualityVerdict bytesBilledToday
    latestRun {
      id status rowsProcessed rowsInserted rowsUpdated rowsDeleted
      refreshStartedAt refreshCompletedAt executionTimeMs errorMessage
    }
  }
  runnerStatus {
    runsInFlight { run { id config { id } } rowsProcessed totalRows percent rowsPerSecond etaSeconds }
  }
  openAlerts { kind table since reason }
  backfills(first: 20) { id tableSchema tableName from to status chunksDone chunksTotal }
}`;

const CONFIGS_QUERY = `query StatusPageConfigs($after: String) {
  refreshConfigs(first: 100, after: $after) {
    edges { node { id tableSchema tableName parentDependencies { dependencyType parent { id } } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const EVENTS_SUBSCRIPTION = `subscription StatusPageEvents {
  refreshEvents {
    __typename
    ... on RefreshEvent { configId tableSchema tableName at }
    ... on RunStarted { runId }
    ... on RunProgress { runId rowsProcessed totalRows percent rowsPerSecond etaSeconds }
    ... on RunFinished { runId status outcome rowsProcessed errorMessage }
    ... on RunBlocked { reasons }
  }
}`;

/** Runs one operation against /graphql; GraphQL errors reject with their messages. */
async function request(query, variables, token) {
  const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await res.json().catch(() => null);
  if (!body) throw new Error(`the server answered HTTP ${res.status}`);
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
  return body.data;
}

/** Every table's health, the runs in flight with their progress, the open alerts and the latest backfills. */
export function loadHealth(token) {
  return request(HEALTH_QUERY, {}, token);
}

/** Every registered table with the edges to its parents (all pages). */
export async function loadConfigs(token) {
  const configs = [];
  let after = null;
  do {
    const { refreshConfigs: page } = await request(CONFIGS_QUERY, { after }, token);
    configs.push(...page.edges.map((e) => e.node));
    after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
  } while (after);
  return configs;
}

/**
 * Who the token makes the caller: { name, scopes, tokenRefused }. viewer needs no scope, so it
 * answers for a missing or refused token too, and says why.
 */
export async function loadViewer(token) {
  const data = await request(`query StatusPageViewer { viewer { name scopes tokenRefused } }`, {}, token);
  return data.viewer;
}

/** Forces a refresh of a table and its dependents; resolves with the typed result. */
export async function forceRefresh(tableSchema, tableName, token) {
  const data = await request(
    `mutation StatusPageForce($input: ForceRefreshInput!) {
      forceRefresh(input: $input) { __typename ... on ForceRefreshPayload { queued run { id } } ... on Error { message } }
    }`,
    { input: { tableSchema, tableName, cascade: true } },
    token,
  );
  return data.forceRefresh;
}

/** Cancels a running refresh; resolves with the typed result. */
export async function cancelRefresh(runId, token) {
  const data = await request(
    `mutation StatusPageCancel($runId: ID!) {
      cancelRefresh(input: { runId: $runId }) { __typename ... on CancelRefreshPayload { finished } ... on Error { message } }
    }`,
    { runId },
    token,
  );
  return data.cancelRefresh;
}

/**
 * Subscribes to refreshEvents over graphql-ws, reconnecting for as long as the page is open
 * (back-off capped at 15 s). onStatus gets 'connecting' | 'live' | 'reconnecting' | 'error';
 * 'live' after a reconnect carries `true`, so the caller can re-read what it missed.
 * Returns a function that closes the connection.
 */
export function subscribeToEvents(token, { onEvent, onStatus }) {
  const { createClient } = globalThis.graphqlWs;
  const client = createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: Infinity,
    // A refused token (4403) is not retried: the page says so and waits for another token.
    shouldRetry: (event) => event?.code !== 4403,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(15_000, 500 * 2 ** retries) + Math.random() * 500)),
    keepAlive: 15_000,
    on: {
      connecting: (isRetry) => onStatus(isRetry ? 'reconnecting' : 'connecting'),
      connected: (_socket, _payload, wasRetry) => onStatus('live', wasRetry),
      closed: () => onStatus('reconnecting'),
    },
  });
  const unsubscribe = client.subscribe(
    { query: EVENTS_SUBSCRIPTION },
    {
      next: (result) => (result.data ? onEvent(result.data.refreshEvents) : onStatus('error', result.errors)),
      error: (error) => onStatus('error', error),
      complete: () => undefined,
    },
  );
  return () => {
    unsubscribe();
    void client.dispose();
  };
}
