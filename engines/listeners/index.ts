/**
 * Listeners (TaskFlow's `listeners/`): objects that follow an engine's events. Each is
 * `new X(engine, options).start()` (returning itself) and `.stop()`; a listener that throws never
 * breaks a run.
 */
export { EngineListener, checkListenerOptions, type ListenableEngine } from './base.js';
export { PrintingListener, type PrintingListenerOptions, type TextSink } from './printing.js';
export { LoggingListener, type LoggingListenerOptions, type LogFunction } from './logging.js';
export { TimingListener, type TimingListenerOptions, type AtomTiming } from './timing.js';
export { CapturingListener, type CapturingListenerOptions, type CapturedEvent } from './capturing.js';
export { formatValue, atomMessage, flowMessage } from './format.js';
