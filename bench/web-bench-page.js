// Bundled by esbuild for the bench page: ajv (from the OpenAPI schema), zod, and kipp-web on the same cart.
import Ajv from 'ajv';
import { z } from 'zod';

export async function run(kipp, schema, cart, ms) {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const ajvValidate = ajv.compile(schema);
  const item = z.object({
    type: z.enum(['physical', 'discount']).optional(), reference: z.string().max(64).optional(), name: z.string().min(1).max(255),
    quantity: z.number().int().min(1).optional(), unit_price: z.number().int().min(0), total_amount: z.number().int().min(0),
    tax_rate: z.number().int().min(0).max(10000), total_discount_amount: z.number().int().min(0).optional(), total_tax_amount: z.number().int().min(0),
  });
  const zodSchema = z.object({
    device_id: z.string().uuid(), order_amount: z.number().int().min(0), purchase_currency: z.string().length(3),
    purchase_started_at: z.string().optional(), order_tax_amount: z.number().int().min(0), merchant_reference1: z.string().max(255).optional(),
    merchant_reference2: z.string().max(255).optional(), merchant_data: z.string().max(6000).optional(), order_items: z.array(item).min(1).max(1000),
  });
  const measure = (f, span) => {
    let n = 0; const t0 = performance.now(); let t = t0;
    while (t - t0 < span) { for (let i = 0; i < 50; i++) f(); n += 50; t = performance.now(); }
    return n / ((t - t0) / 1000);
  };
  const checks = { kipp: kipp.validateSession(cart).length, ajv: ajvValidate(cart), zod: zodSchema.safeParse(cart).success };
  // `stringify` is no validator: it is the least any validator in wasm pays to read a JS object
  // (its JSON text; reading properties one by one across the boundary costs more), so it shows
  // how close to ajv a wasm validator can come at all.
  const fns = { kipp: () => kipp.validateSession(cart), ajv: () => ajvValidate(cart), zod: () => zodSchema.safeParse(cart), stringify: () => JSON.stringify(cart) };
  for (const f of Object.values(fns)) for (let i = 0; i < 200; i++) f();
  // Interleaved rounds, best round each: a busy machine slows one round, not one validator.
  const rounds = 5; const best = { kipp: 0, ajv: 0, zod: 0, stringify: 0 };
  for (let r = 0; r < rounds; r++) for (const [k, f] of Object.entries(fns)) best[k] = Math.max(best[k], measure(f, ms / rounds));
  return { checks, kippOps: best.kipp, ajvOps: best.ajv, zodOps: best.zod, stringifyOps: best.stringify };
}
