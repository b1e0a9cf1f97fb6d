export {
  loadConfig,
  decodeMasterKey,
  MASTER_KEY_BYTES,
  DEFAULT_RETENTION,
  type Config,
  type MasterKeys,
  type RetentionPolicy,
} from './config.js';
