// A strict TypeScript consumer of kipp-web's declarations (`tsc -p www/tsconfig.json`, stage tsc-web).
// It type-checks every export; nothing here runs.
import init, {
  KippClient,
  KippError,
  formatAmount,
  validateSession,
  type CreateSessionRequest,
  type Device,
  type Enrollment,
  type FieldError,
  type IssuedToken,
  type KippErrorCode,
  type Location,
  type Me,
  type Page,
  type Session,
  type SessionState,
  type TapOutcome,
  type WatchHandle,
} from "../pkg/kipp_web.js";

export async function demo(): Promise<void> {
  await init();
  const client = new KippClient({ baseUrl: "https://pos.example.com", token: "kipp1.x.y" });
  const refreshing = new KippClient({ getToken: async () => "kipp1.fresh.sig", timeoutMs: 5000, retries: 1 });

  const request: CreateSessionRequest = {
    device_id: "3f0c8a52-7c1e-4b7a-9a43-0d2f6b1e9c11",
    order_amount: 25000,
    purchase_currency: "SEK",
    order_tax_amount: 5000,
    order_items: [{ name: "Mug", quantity: 2, unit_price: 12500, total_amount: 25000, tax_rate: 2500, total_tax_amount: 5000 }],
  };
  const errors: FieldError[] = validateSession(request);
  const firstPath: string | undefined = errors[0]?.path;
  const label: string = formatAmount(request.order_amount, request.purchase_currency, "sv-SE");
  const plain: string = formatAmount(100, "EUR");

  const created: Session = await client.createSession(request, { idempotencyKey: "order-42" });
  const again: Session = await client.createSession(request);
  const fetched: Session = await client.getSession(created.session_id);
  const cancelled: Session = await client.cancelSession(fetched.session_id);
  const amount: number | undefined = cancelled.order_amount;

  const devices: Page<Device> = await client.listDevices({ location_id: "x", metadata: ["simulated:true"], page_size: 50 });
  const allDevices: Page<Device> = await refreshing.listDevices();
  const locations: Page<Location> = await client.listLocations();
  const location: Location = await client.createLocation({ name: "Store", country: "SE" });
  const enrollment: Enrollment = await client.createEnrollment({ ttl: "TWO_HOURS", location_id: location.id });
  const enrollments: Page<Enrollment> = await client.listEnrollments({ include_consumed: false });
  const gone: void = await client.deleteEnrollment(enrollment.enrollment_id);
  const moved: Device = await client.updateDevice(devices.content[0]!.id, { name: "Till 2", location_id: location.id });
  const removed: void = await client.deleteDevice(moved.id);
  const sim: Device = await client.createSimulatedDevice("Virtual", { location_id: location.id, metadata: { lane: "1" } });
  const outcome: TapOutcome = "INSUFFICIENT_FUNDS";
  const tapped: Session = await client.simulateTap(again.session_id, outcome);
  const me: Me = await client.me();
  const token: IssuedToken = await client.issueToken({ role: "clerk", ttl_seconds: 3600 });
  const current: Session | null = await client.deviceSession(sim.id);
  const revoked: void = await client.revokeToken(token.jti);

  const controller = new AbortController();
  const final: Session = await client.waitForOutcome(created.session_id, {
    timeoutMs: 60_000,
    signal: controller.signal,
    onUpdate: (s: Session, st: SessionState) => {
      const reason: string | null = st.failure_reason;
      void [s.status, reason, st.failed_attempts];
    },
  });
  const handle: WatchHandle = client.watch(final.session_id, (s, st) => void [s.session_id, st.status], {
    onError: (e: KippError) => {
      const code: KippErrorCode = e.code;
      const retry: boolean = e.retryable;
      void [code, retry, e.status, e.fieldErrors.length, e.requestId];
    },
  });
  handle.close();
  {
    // `using` stops the watch at the end of the block.
    using watched = client.watch(final.session_id, () => {});
    void watched;
  }
  // An explicit `undefined` for an optional property (exactOptionalPropertyTypes), as from a form.
  const reference: string | undefined = undefined;
  const retried: Session = await client.createSession({ ...request, merchant_reference1: reference }, { idempotencyKey: undefined, location_id: undefined });
  const onUpdate: ((s: Session) => void) | undefined = undefined;
  const waited: Session = await client.waitForOutcome(retried.session_id, { onUpdate, onError: undefined, signal: undefined });

  try {
    await client.getSession("nope");
  } catch (e) {
    if (e instanceof KippError) {
      const status: number | null = e.status;
      const rid: string | null = e.requestId;
      const isError: Error = e;
      const key: string | undefined = e.idempotencyKey;
      void [status, rid, isError.message, key];
    }
  }
  void [firstPath, label, plain, retried, waited, revoked, amount, allDevices, locations, enrollments, gone, removed, tapped, me, token, current];
}
