// The addon's `testing` exports (its byte parsers). Only the testing build has them
// (binding.gyp portwarden_testing=1), which test/global-setup.ts builds and names in
// PORTWARDEN_ADDON_PATH for the suite; release builds and prebuilds do not.
import {nativeBinding, type NativeBinding} from '../src/native.js';

export type TestingExports = NonNullable<NativeBinding['testing']>;

export function testingExports(): TestingExports {
  const testing = nativeBinding()?.testing;
  if (testing === undefined) {
    throw new Error(
      'the loaded addon has no testing exports: run the suite through vitest (test/global-setup.ts ' +
        'loads build-testing/), or set PORTWARDEN_ADDON_PATH to a build made with portwarden_testing=1',
    );
  }

  return testing;
}
