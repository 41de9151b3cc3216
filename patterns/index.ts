export { LinearFlow } from './linear.js';
export { UnorderedFlow } from './unordered.js';
export { GraphFlow, type LinkOptions } from './graph.js';
