export { loadConfig, decodeMasterKey, MASTER_KEY_BYTES, type Config, type MasterKeys } from './config.js';
