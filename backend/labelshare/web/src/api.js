// The LabelShare API, same origin as this page. Errors come back as {error, detail, field}.

let bearer = null;

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error ?? 'http_error';
    this.detail = body?.detail ?? `the server answered HTTP ${status}`;
    this.field = body?.field ?? null;
  }
}

export function setBearerToken(token) {
  bearer = token;
}

const unauthorisedListeners = new Set();
/** Called when the server says the session is unknown or expired (HTTP 401). */
export function onUnauthorised(listener) {
  unauthorisedListeners.add(listener);
}

/** Fetches `path` and returns its JSON (null for 204 No Content); throws ApiError on 4xx/5xx. */
export async function apiFetch(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { error: 'bad_response', detail: text.slice(0, 200) };
  }
  if (!response.ok) {
    const error = new ApiError(response.status, json);
    if (response.status === 401 && bearer) unauthorisedListeners.forEach((listener) => listener(error));
    throw error;
  }
  return json;
}

/** Fetches `path` as a file (with the session's token) and returns its Blob; throws ApiError. */
export async function apiBlob(path) {
  const headers = bearer ? { Authorization: `Bearer ${bearer}` } : {};
  const response = await fetch(path, { headers });
  if (!response.ok) {
    let json = null;
    try {
      json = JSON.parse(await response.text());
    } catch {
      json = null; // not JSON: ApiError falls back to the status
    }
    const error = new ApiError(response.status, json);
    if (response.status === 401 && bearer) unauthorisedListeners.forEach((listener) => listener(error));
    throw error;
  }
  return response.blob();
}
