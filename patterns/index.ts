export { LinearFlow } from './linear.js';
export { UnorderedFlow } from './unordered.js';
export { GraphFlow, type LinkOptions } from './graph.js';
export {
  Registry,
  getRegistry,
  useNamespace,
  clearRegistry,
  currentNamespace,
  type RegisteredTask,
  type RegistryFunction,
  type RegistryTaskOptions,
  type RegistryDecoratorOptions,
  type RegistryFlowOptions,
  type RegistryRunOptions,
  type VisualizeOptions,
  type StaticMethodDecorator,
} from './registry.js';
