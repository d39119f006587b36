/** Amounts are integers in minor units (öre, cents), never BigInt. */
export type MinorUnits = number;
/** An RFC 3339 timestamp. */
export type Timestamp = string;
/** String→string metadata (at most 50 keys). */
export type Metadata = Record<string, string>;

export type SessionStatus = "CREATED" | "ACTIVE" | "FINALIZED" | "CANCELLED" | "EXPIRED" | "FAILED";
export type TapOutcome =
  | "SUCCESS"
  | "DECLINED_GENERIC"
  | "INSUFFICIENT_FUNDS"
  | "LOST_CARD"
  | "STOLEN_CARD"
  | "EXPIRED_CARD"
  | "INCORRECT_CVC"
  | "PROCESSING_ERROR"
  | "INCORRECT_NUMBER"
  | "CARD_VELOCITY_EXCEEDED";
export type DevicePlatform = "IOS" | "ANDROID" | "TERMINAL";
export type EnrollmentStatus = "PENDING" | "CONSUMED" | "EXPIRED" | "CANCELLED";
export type EnrollmentTtl = "TWO_HOURS" | "TWENTY_FOUR_HOURS" | "FORTY_EIGHT_HOURS" | "SEVENTY_TWO_HOURS";
export type Role = "clerk" | "admin";

// Optional properties of what callers pass in accept an explicit `undefined` too (as the runtime
// does), so they type-check under `exactOptionalPropertyTypes`.

/** One order line. `total_amount` = quantity × unit_price − total_discount_amount; tax is included. */
export interface OrderItem {
  type?: "physical" | "discount" | undefined;
  reference?: string | undefined;
  name: string;
  quantity?: number | undefined;
  unit_price: MinorUnits;
  total_amount: MinorUnits;
  /** Basis points: 2500 = 25 %. */
  tax_rate: number;
  total_discount_amount?: MinorUnits | undefined;
  total_tax_amount: MinorUnits;
}

/** The body of `createSession`. */
export interface CreateSessionRequest {
  device_id: string;
  order_amount: MinorUnits;
  purchase_currency: string;
  purchase_started_at?: Timestamp | undefined;
  order_tax_amount: MinorUnits;
  merchant_reference1?: string | undefined;
  merchant_reference2?: string | undefined;
  merchant_data?: string | undefined;
  order_items: OrderItem[];
}

export interface Session {
  session_id: string;
  status: SessionStatus;
  device_id: string;
  order_id?: string;
  order_amount?: MinorUnits;
  purchase_currency?: string;
  purchase_started_at?: Timestamp;
  purchase_completed_at?: Timestamp;
  order_tax_amount?: MinorUnits;
  order_items?: OrderItem[];
  merchant_reference1?: string;
  merchant_reference2?: string;
  merchant_data?: string;
}

/** What the worker knows beyond the session: the outcome of failed taps. */
export interface SessionState {
  status: SessionStatus;
  order_id: string | null;
  /** e.g. `insufficient_funds` after a declined tap; the session stays ACTIVE and the customer may tap again. */
  failure_reason: string | null;
  failed_attempts: number;
}

export interface Device {
  id: string;
  hardware_id?: string;
  merchant_id?: string;
  location_id?: string;
  name?: string;
  platform?: DevicePlatform;
  metadata?: Metadata;
  created_at?: Timestamp;
  open_cash_register_id?: number;
  unique_id?: string;
}

export interface Location {
  id: string;
  merchant_id?: string;
  name?: string;
  street_address?: string;
  street_address2?: string;
  postal_code?: string;
  city?: string;
  country?: string;
  created_at?: Timestamp;
  updated_at?: Timestamp;
}

export interface LocationRequest {
  name: string;
  street_address?: string | undefined;
  street_address2?: string | undefined;
  postal_code?: string | undefined;
  city?: string | undefined;
  /** ISO 3166-1 alpha-2, e.g. `SE`. */
  country?: string | undefined;
}

export interface Enrollment {
  enrollment_id: string;
  /** The code typed on the device. */
  enrollment_code: string;
  expires_at: Timestamp;
  status: EnrollmentStatus;
  metadata?: Metadata;
  location_id?: string;
}

export interface CreateEnrollmentRequest {
  metadata?: Metadata | undefined;
  /** Lifetime in milliseconds (10 000 – 259 200 000); or give `ttl`. */
  expires_in?: number | undefined;
  ttl?: EnrollmentTtl | undefined;
  location_id?: string | undefined;
}

export interface UpdateDeviceRequest {
  name?: string | undefined;
  metadata?: Metadata | undefined;
  location_id?: string | undefined;
}

export interface Page<T> {
  content: T[];
  total_elements: number;
  total_pages: number;
  page_number: number;
  page_size: number;
  first: boolean;
  last: boolean;
}

export interface PageOptions {
  /** Zero-based. */
  page_number?: number | undefined;
  /** 1–100, default 20. */
  page_size?: number | undefined;
}

export interface DeviceFilter extends PageOptions {
  location_id?: string | undefined;
  /** `key:value` filters (at most 5). */
  metadata?: string[] | undefined;
}

export interface EnrollmentFilter extends DeviceFilter {
  include_consumed?: boolean | undefined;
}

export interface SimulatedDeviceOptions {
  location_id?: string | undefined;
  metadata?: Metadata | undefined;
}

/** `GET /kipp/v1/me`: who the token is. */
export interface Me {
  role: Role;
  location_id: string | null;
  expires_at: number;
  jti: string;
  playground: boolean;
}

export interface IssueTokenRequest {
  role: Role;
  location_id?: string | undefined;
  /** Lifetime in seconds (default 43 200 = 12 h). */
  ttl_seconds?: number | undefined;
}

export interface IssuedToken {
  token: string;
  jti: string;
  /** Unix seconds. */
  expires_at: number;
}

/** One broken rule, at its path in the request JSON (`order_items[1].total_tax_amount`). */
/**
 * One broken field. Checked offline (`validateSession`, and before every call) and by the worker
 * alike, with the same `path` and `code` for the same fault; only the wording may differ.
 */
export interface FieldError {
  /** The field's JSON path, e.g. `order_items[1].unit_price` (`""`: the request itself). */
  path: string;
  /**
   * `required` (missing), `invalid` (wrong JSON type, `null` in a required field, `NaN`, a
   * malformed id or code), `out_of_range` (a number of the right kind outside its range),
   * `too_short`, `too_long`, `too_many`, `mismatch`, `overflow`, `duplicate_key`, `unsupported`,
   * `conflict`; from the server also `unknown_field` and `malformed_json`.
   */
  code: string;
  message: string;
}

export interface KippClientOptions {
  /** The edge worker, e.g. `https://pos.example.com` (default: the page's origin). */
  baseUrl?: string | undefined;
  /** A kipp POS token (`kipp1.…`). */
  token?: string | undefined;
  /**
   * Called before every request (and once more after a 401); return a fresh token. Throwing or
   * rejecting is a retryable `network` failure (the app's error as `cause`), unless what it throws
   * is a `KippError`, which is passed on as it is.
   */
  getToken?: (() => string | Promise<string>) | undefined;
  /** Time limit per HTTP attempt, ms (default 15 000). */
  timeoutMs?: number | undefined;
  /** Extra attempts for calls safe to repeat (default 2). */
  retries?: number | undefined;
}

export interface CreateSessionOptions {
  /**
   * Sent as `Idempotency-Key` (1–255 visible ASCII characters); a random one is made (and reused
   * on retries) when absent. A failed create carries the key it sent as `error.idempotencyKey`:
   * pass it back here to retry the same sale.
   */
  idempotencyKey?: string | undefined;
  location_id?: string | undefined;
}

export interface WaitOptions {
  /**
   * Give up after this many ms with a `timeout` KippError (default 1 020 000 = 17 min: the
   * worker's 15-min session lifetime plus its re-reads after it, so an unpaid sale ends EXPIRED).
   */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Every change; after an `onError`, also the next state even if unchanged (the connection is back). */
  onUpdate?: ((session: Session, state: SessionState) => void) | undefined;
  /** Hears every dropped socket and failed poll the wait rides out (`retryable`) while it reconnects; a socket that never opens falls back to polling without a report. */
  onError?: ((error: KippError) => void) | undefined;
}

export interface WatchOptions {
  /**
   * Called for every failure; `error.retryable` says whether watching goes on. Without it, a
   * failure that ends the watch (not `close()`) is written to `console.error`.
   */
  onError?: ((error: KippError) => void) | undefined;
}

/**
 * The stable set of `KippError.code` values:
 * - `validation_failed`: the input broke a rule; see `fieldErrors`.
 * - `unauthorized`: no token, or it expired or was revoked, or it holds characters no token has (nothing is sent) — sign in again.
 * - `forbidden`: the token's role or location does not allow this.
 * - `not_found`, `method_not_allowed`, `conflict` (e.g. the device is busy with another session),
 *   `payload_too_large`, `unsupported_media_type`.
 * - `rate_limited`, `upstream_unavailable`, `timeout`, `network`: transient; `retryable` is true
 *   (unless the call is not safe to repeat and may have taken effect, see `retryable`).
 * - `aborted`: the caller's AbortSignal fired or the watch was closed.
 * - `invalid_response`: the server answered something that is not JSON.
 * - `http_error`: any other HTTP status; also the worker's own 500 `config_missing` and its 502
 *   `upstream_auth_failed` (Kustom refused the worker's API key): configuration errors, not retryable.
 * - `not_initialized`: `new KippClient()` before `await init()`.
 */
export type KippErrorCode =
  | "validation_failed"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "upstream_unavailable"
  | "timeout"
  | "aborted"
  | "network"
  | "invalid_response"
  | "http_error"
  | "not_initialized";

/** Every failure of the package is thrown (or passed to `onError`) as a KippError. */
export class KippError extends Error {
  readonly name: "KippError";
  readonly code: KippErrorCode;
  /** The HTTP status, or null when no response was received. */
  readonly status: number | null;
  readonly fieldErrors: FieldError[];
  /**
   * True when the same call may succeed later and is safe to repeat. A call that is not safe to
   * repeat (`createLocation`, `createEnrollment`, `issueToken`, `simulateTap`,
   * `createSimulatedDevice`) that got no answer, or a 500, 502 or 504, may have taken effect: it
   * is not retryable then, and its message says to check first.
   */
  readonly retryable: boolean;
  /**
   * The wait the server asked for (`Retry-After`), in ms, or null. A call waits out up to 60 s of
   * it by itself before its retry; a longer one fails the call at once, still `retryable`, so the
   * app can try again after this long. A wait's polls wait at most 60 s.
   */
  readonly retryAfterMs: number | null;
  /** Quote this in a support request. */
  readonly requestId: string | null;
  /**
   * The server's own code for the failure (its problem details' `code`), or null when the answer
   * had none or no answer came. Finer than `code` and not a closed set (servers add codes), e.g.
   * `token_expired` and `token_revoked` (both `unauthorized`), `location_forbidden` (`forbidden`),
   * `device_busy` and `idempotency_in_progress` (both `conflict`), `unknown_device` (`validation_failed`).
   */
  readonly reason: string | null;
  /** On a failed `createSession`: the `Idempotency-Key` it sent; retry with it to retry the same sale. */
  readonly idempotencyKey?: string;
}

/**
 * A client of the kipp edge worker.
 */
export class KippClient {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * This client with `signal` on every call, wait and watch made through it: they stop when it
     * aborts, rejecting with `aborted` (a watch just stops). The client itself is unchanged, e.g.
     * `const screen = client.withSignal(leaving.signal)` for everything a screen starts.
     */
    withSignal(signal: AbortSignal): KippClient;
    /**
     * `PUT /ipp/v1/sessions/{id}/cancel`.
     */
    cancelSession(id: string): Promise<Session>;
    /**
     * `POST /ipp/v1/enrollments` (admin).
     */
    createEnrollment(request?: CreateEnrollmentRequest): Promise<Enrollment>;
    /**
     * `POST /ipp/v1/locations` (admin).
     */
    createLocation(request: LocationRequest): Promise<Location>;
    /**
     * Validates locally, then creates a session (`POST /ipp/v1/sessions`).
     */
    createSession(request: CreateSessionRequest, options?: CreateSessionOptions): Promise<Session>;
    /**
     * `POST /ipp/v1/dev/devices` (playground only).
     */
    createSimulatedDevice(name: string, options?: SimulatedDeviceOptions): Promise<Device>;
    /**
     * `DELETE /ipp/v1/devices/{id}` (admin).
     */
    deleteDevice(id: string): Promise<void>;
    /**
     * `DELETE /ipp/v1/enrollments/{id}` (admin).
     */
    deleteEnrollment(id: string): Promise<void>;
    /**
     * `GET /kipp/v1/devices/{id}/current-session`: the device's open session or `null`.
     */
    deviceSession(deviceId: string): Promise<Session | null>;
    /**
     * `GET /ipp/v1/sessions/{id}`.
     */
    getSession(id: string): Promise<Session>;
    /**
     * `POST /kipp/v1/tokens` (admin): a token for a clerk or admin.
     */
    issueToken(request: IssueTokenRequest): Promise<IssuedToken>;
    /**
     * `POST /kipp/v1/tokens/revoke` (an admin token without a location): the token with this
     * `jti`, and every token minted with it, is refused within the worker's revocation cache time
     * (`KIPP_REVOCATION_CACHE_SECS`, 5 s); its open live sockets are closed (4401) before the first
     * message sent more than that time after the revocation.
     */
    revokeToken(jti: string): Promise<void>;
    /**
     * `GET /ipp/v1/devices`.
     */
    listDevices(filter?: DeviceFilter): Promise<Page<Device>>;
    /**
     * `GET /ipp/v1/enrollments` (admin).
     */
    listEnrollments(filter?: EnrollmentFilter): Promise<Page<Enrollment>>;
    /**
     * `GET /ipp/v1/locations`.
     */
    listLocations(page?: PageOptions): Promise<Page<Location>>;
    /**
     * `GET /kipp/v1/me`: the token's role, location and expiry.
     */
    me(): Promise<Me>;
    /**
     * `new KippClient({ baseUrl, token, getToken? })`.
     */
    constructor(options?: KippClientOptions);
    /**
     * `POST /ipp/v1/dev/sessions/{id}/simulate-tap` (playground only); default outcome SUCCESS.
     */
    simulateTap(sessionId: string, outcome?: TapOutcome | undefined): Promise<Session>;
    /**
     * `PUT /ipp/v1/devices/{id}` (admin): replaces the device's name, location and metadata; a
     * field left out is cleared (send all three to rename or move it).
     */
    updateDevice(id: string, update: UpdateDeviceRequest): Promise<Device>;
    /**
     * Resolves with the session once it is FINALIZED, CANCELLED, EXPIRED or
     * FAILED; rejects with `timeout` at the deadline or `aborted` on the signal.
     */
    waitForOutcome(id: string, options?: WaitOptions): Promise<Session>;
    /**
     * Calls `onUpdate(session, state)` on every change until a terminal
     * status (and, after an `onError`, with the next state even if unchanged); reconnects with backoff. Returns a handle whose `close()` stops it.
     */
    watch(id: string, onUpdate: (session: Session, state: SessionState) => void, options?: WatchOptions): WatchHandle;
}

/**
 * What `watch` returns.
 */
export class WatchHandle {
    private constructor();
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Stops watching (closes the WebSocket or the polling).
     */
    close(): void;
}
