{
  # portwarden_testing=1 (scripts/build-testing.mjs, scripts/build-asan.sh) builds the test
  # suite's addon: it exports `testing` and honours PORTWARDEN_FAULT. Releases and prebuilds
  # never set it.
  "variables": {"portwarden_testing%": 0},
  "targets": [
    {
      "target_name": "portwarden",
      "sources": [
        "native/binding.cc",
        "native/parse/netlink.cc",
        "native/parse/procfs.cc",
        "native/parse/pidfile.cc",
        "native/parse/darwin.cc",
        "native/posix/pidfile.cc",
        "native/posix/notify.cc",
        "native/posix/listen.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"],
      "conditions": [
        ["portwarden_testing==1", {"defines": ["PORTWARDEN_TESTING=1"]}],
        ["OS=='linux'", {
          "sources": [
            "native/linux/sock_diag.cc",
            "native/linux/procfs.cc",
            "native/linux/process_control.cc"
          ]
        }],
        ["OS=='mac'", {
          "sources": [
            "native/darwin/pcblist.cc",
            "native/darwin/libproc.cc",
            "native/darwin/process_control.cc"
          ],
          "xcode_settings": {
            "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
            "MACOSX_DEPLOYMENT_TARGET": "11.0"
          }
        }]
      ]
    }
  ]
}
