/**
 * A run's hold on its flow detail: the claim (made here, or handed in by a conductor), its renewal
 * every `leaseMs / 3` by one unref'd timer (no per-atom cost), and its release. The committer
 * carries the claim's token as the fence of every commit; a renewal refused with `ClaimLost` is
 * reported once through `onLost`, and the run stops.
 */
import createDebug from 'debug';
import { ClaimLost } from '../../lib/errors.js';
import type { Backend, Claim, ClaimRequest } from '../../persistence/backend.js';

const log = createDebug('atomflow:engine');

export class Lease {
  readonly backend: Backend;
  readonly flowUuid: string;
  readonly owner: string;
  readonly token: number;
  readonly leaseMs: number;
  #claim: Claim;
  #timer: ReturnType<typeof setInterval> | undefined;
  #renewing: Promise<void> | undefined;
  #lost: ClaimLost | undefined;
  #ended = false;

  constructor(backend: Backend, claim: Claim, leaseMs: number) {
    this.backend = backend;
    this.flowUuid = claim.flowUuid;
    this.owner = claim.owner;
    this.token = claim.token;
    this.leaseMs = leaseMs;
    this.#claim = claim;
  }

  /** Claims the flow detail (FlowClaimed when a live owner holds it). */
  static async acquire(backend: Backend, flowUuid: string, request: ClaimRequest): Promise<Lease> {
    const claim = await backend.claim(flowUuid, request);
    log('flow %s claimed by %s (token %d, lease %d ms)', flowUuid, claim.owner, claim.token, request.leaseMs);
    return new Lease(backend, claim, request.leaseMs);
  }

  /** The claim as last stored (after the latest renewal). */
  get claim(): Claim {
    return this.#claim;
  }

  /** Set once a renewal was refused: another owner took the flow over. */
  get lost(): ClaimLost | undefined {
    return this.#lost;
  }

  /** Starts renewing every `leaseMs / 3`; `onLost` is called (once) when a renewal is refused. */
  keep(onLost: (e: ClaimLost) => void): void {
    if (this.#timer !== undefined || this.#ended) return;
    const every = Math.max(1, Math.floor(this.leaseMs / 3));
    this.#timer = setInterval(() => {
      if (this.#renewing !== undefined || this.#ended) return;
      this.#renewing = this.backend.renew(this.flowUuid, this.token, this.leaseMs).then(
        (c) => {
          this.#renewing = undefined;
          this.#claim = c;
        },
        (e: unknown) => {
          this.#renewing = undefined;
          if (e instanceof ClaimLost) {
            this.#stopTimer();
            if (this.#ended || this.#lost !== undefined) return;
            this.#lost = new ClaimLost(this.flowUuid, this.owner, `renewal refused: ${e.message}`);
            log('flow %s: claim of %s lost at renewal', this.flowUuid, this.owner);
            onLost(this.#lost);
          } else {
            // A passing store problem: try again at the next tick (the lease has two more).
            log('flow %s: lease renewal failed (%s); retrying', this.flowUuid, (e as Error)?.message ?? e);
          }
        },
      );
    }, every);
    this.#timer.unref();
  }

  /**
   * Stops renewing and clears the claim (a no-op at the backend when the token is no longer the
   * flow's). Never throws: the lease runs out by itself if the store cannot be reached.
   */
  async release(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#stopTimer();
    if (this.#renewing !== undefined) await this.#renewing;
    if (this.#lost !== undefined) return;
    try {
      await this.backend.release(this.flowUuid, this.token);
      log('flow %s released by %s', this.flowUuid, this.owner);
    } catch (e) {
      log('flow %s: release failed (%s); the lease will run out', this.flowUuid, (e as Error)?.message ?? e);
    }
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
