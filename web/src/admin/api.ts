// The administrator's REST client: one place that adds the token, parses replies and
// notices a lapsed sign-in. Every reply is either the typed body or a refusal, so a
// view cannot read a body without first checking which it got.

/** What the API says when it refuses: a stable code, a message, and for a CSV
 *  import the rows it refused. */
export interface Refusal {
  code?: string;
  message?: string;
  rows?: { line: number; reason: string }[];
}

export type Reply<T> =
  | { ok: true; status: number; body: T }
  | { ok: false; status: number; body: Refusal | null };

const TOKEN_KEY = "viva.adminToken";
let token = sessionStorage.getItem(TOKEN_KEY) ?? "";
let signedOut: () => void = () => {};

export function signedIn(): boolean {
  return token !== "";
}

export function bearer(): string {
  return token;
}

export function signIn(newToken: string): void {
  token = newToken;
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** What to do when the server says the sign-in lapsed (show the login form). */
export function onSignedOut(then: () => void): void {
  signedOut = then;
}

/** A JSON body, a CSV file, or nothing. */
export type RequestBody = object | Blob | string | undefined;

export async function call<T>(method: string, path: string, body?: RequestBody): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body instanceof Blob || typeof body === "string") {
    payload = body;
  } else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { message: text };
  }
  if (res.status === 401 && path !== "/api/v1/auth/login") {
    token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    signedOut();
  }
  return res.ok
    ? { ok: true, status: res.status, body: parsed as T }
    : { ok: false, status: res.status, body: parsed as Refusal | null };
}

export const get = <T>(path: string): Promise<Reply<T>> => call<T>("GET", path);
export const post = <T>(path: string, body?: RequestBody): Promise<Reply<T>> => call<T>("POST", path, body);

/** A refusal's words for people: the server's message, else the status. */
export function refusalText(reply: { status: number; body: Refusal | null }): string {
  return reply.body?.message ?? String(reply.status);
}

/** A list, or nothing when it cannot be read. */
export async function list<T>(path: string): Promise<T[]> {
  const res = await get<T[]>(path);
  return res.ok ? res.body : [];
}
