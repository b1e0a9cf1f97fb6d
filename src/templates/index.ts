export { TemplateCatalog } from './catalog.js';
export { builtinTemplates, TEMPLATES_DIR } from './builtin.js';
export { parseTemplate, TEMPLATE_NAME, type Template, type TemplatePattern } from './template.js';
export {
  fillPlaceholders,
  resolveParameters,
  placeholdersOf,
  type TemplateParameter,
  type ParameterType,
  type ParameterValue,
} from './render.js';
