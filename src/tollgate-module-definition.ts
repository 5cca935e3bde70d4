import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { MeteringModuleExtras, MeteringModuleOptions } from './tollgate.options.js';

export const {
  ConfigurableModuleClass: ConfigurableMeteringModule,
  MODULE_OPTIONS_TOKEN: METERING_MODULE_OPTIONS,
  OPTIONS_TYPE: METERING_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: METERING_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<MeteringModuleOptions>()
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createMeteringOptions')
  .setExtras<MeteringModuleExtras>({ globalGuards: true }, (definition) => ({ ...definition, global: true }))
  .build();
