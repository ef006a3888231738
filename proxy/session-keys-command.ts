/**
 * `portico-proxy session-keys [--namespace=… --secret=… --key=… --labels=k=v,…]`: makes the session-keys
 * Secret if it is absent, never replaces it (proxy/auth/session-keys.ts). The chart's hook Job runs it
 * under its own ServiceAccount, which may only create Secrets and read and annotate that one.
 * Exit 0: created, kept or adopted (or `--help` printed); 1: a Secret is there without usable keys (left
 * alone); 2: bad flags.
 */
import { CoreV1Api } from "@kubernetes/client-node";
import { kubeConfig } from "../common/runtime/bootstrap.ts";
import { createLogger } from "../common/runtime/log.ts";
import { ensureSessionKeys, kubeSecretStore } from "./auth/session-keys.ts";
import { ConfigError, HelpRequested, loadSessionKeysConfig } from "./config.ts";

export async function sessionKeysCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let config;
  try {
    config = loadSessionKeysConfig(argv, env);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(err.text);
      return 0;
    }
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    return 2;
  }
  const log = createLogger("info", "portico-proxy session-keys");
  const store = kubeSecretStore(kubeConfig(config.kubeconfig).makeApiClient(CoreV1Api));
  const outcome = await ensureSessionKeys(store, config);
  // (A field named "secret" would be redacted by the logger.)
  const fields = { object: `Secret ${config.namespace}/${config.secret}`, result: outcome.result };
  if (outcome.result === "refused") {
    log.error(outcome.message, fields);
    return 1;
  }
  log.info(outcome.message, fields);
  return 0;
}
