// Pure parsers of the service layer: systemctl show, launchctl print, XML plists.
import {describe, expect, test} from 'vitest';
import {parsePrint} from '../../src/services/launchd.js';
import {jobSockets, parsePlist} from '../../src/services/plist.js';
import {parseShow} from '../../src/services/systemd.js';

describe('parseShow', () => {
  test('reads by key, whatever the order systemctl prints them in', () => {
    const a = parseShow(
      'MainPID=4711\nActiveState=active\nSubState=running\nNRestarts=2\nResult=success\nControlGroup=/user.slice/a.service\nLoadState=loaded\nInactiveExitTimestampMonotonic=123',
    );
    const b = parseShow(
      'InactiveExitTimestampMonotonic=123\nLoadState=loaded\nResult=success\nNRestarts=2\nControlGroup=/user.slice/a.service\nSubState=running\nActiveState=active\nMainPID=4711\n',
    );
    expect(a).toEqual(b);
    expect(a).toEqual({
      loadState: 'loaded',
      activeState: 'active',
      subState: 'running',
      mainPid: 4711,
      nRestarts: 2,
      result: 'success',
      controlGroup: '/user.slice/a.service',
      inactiveExit: '123',
      triggeredBy: [],
    });
    expect(parseShow('TriggeredBy=web.socket admin.socket\n').triggeredBy).toEqual([
      'web.socket',
      'admin.socket',
    ]);
  });

  test('values may contain "="; missing NRestarts (systemd < 235) is undefined', () => {
    const s = parseShow('ControlGroup=/a=b.service\nMainPID=0\n');
    expect(s.controlGroup).toBe('/a=b.service');
    expect(s.nRestarts).toBeUndefined();
    expect(s.mainPid).toBe(0);
  });
});

describe('parsePrint', () => {
  test('pid and state, leniently', () => {
    const text = [
      'gui/501/com.example.web = {',
      '\tactive count = 1',
      '\tpath = /Users/me/Library/LaunchAgents/com.example.web.plist',
      '\tstate = running',
      '',
      '\tprogram = /usr/local/bin/node',
      '\truns = 3',
      '\tpid = 4711',
      '\tlast exit code = (never exited)',
      '}',
    ].join('\n');
    expect(parsePrint(text)).toEqual({
      loaded: true,
      pid: 4711,
      state: 'running',
      lastExit: '(never exited)',
      runs: 3,
    });
    expect(parsePrint('x = {\n\tstate = not running\n}')).toEqual({
      loaded: true,
      pid: undefined,
      state: 'not running',
      lastExit: undefined,
      runs: undefined,
    });
  });
});

describe('parsePlist', () => {
  test('a launchd job file', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<!-- a comment -->
	<key>Label</key>
	<string>com.example.a&amp;b</string>
	<key>ProgramArguments</key>
	<array>
		<string>/usr/bin/env</string>
		<string>a &lt;b&gt;</string>
	</array>
	<key>KeepAlive</key>
	<dict><key>SuccessfulExit</key><false/></dict>
	<key>RunAtLoad</key>
	<true/>
	<key>ExitTimeOut</key>
	<integer>5</integer>
	<key>Empty</key>
	<array/>
</dict>
</plist>`;
    expect(parsePlist(xml)).toEqual({
      Label: 'com.example.a&b',
      ProgramArguments: ['/usr/bin/env', 'a <b>'],
      KeepAlive: {SuccessfulExit: false},
      RunAtLoad: true,
      ExitTimeOut: 5,
      Empty: [],
    });
  });

  test('malformed input throws, naming the problem', () => {
    expect(() => parsePlist('<dict></dict>')).toThrow('missing <plist> root element');
    expect(() => parsePlist('<plist><dict><string>x</string></dict></plist>')).toThrow(
      'expected <key> in <dict>',
    );
    expect(() => parsePlist('<plist><dict><key>a</key><foo/></dict></plist>')).toThrow(
      'unsupported element <foo>',
    );
  });
});

describe('jobSockets', () => {
  test('each Sockets value is one socket dictionary or an array of them', () => {
    const root = parsePlist(`<plist><dict><key>Sockets</key><dict>
  <key>Listeners</key><dict><key>SockServiceName</key><string>8080</string><key>SockNodeName</key><string>127.0.0.1</string></dict>
  <key>Both</key><array>
    <dict><key>SockServiceName</key><integer>53</integer><key>SockType</key><string>dgram</string></dict>
    <dict><key>SockServiceName</key><string>http</string></dict>
  </array>
  <key>Unix</key><dict><key>SockPathName</key><string>/tmp/a.sock</string></dict>
  <key>Bad</key><string>not a dictionary</string>
</dict></dict></plist>`) as {Sockets: never};
    expect(jobSockets(root.Sockets)).toEqual([
      {name: 'Listeners', protocol: 'tcp', port: 8080, host: '127.0.0.1'},
      {name: 'Both', protocol: 'udp', port: 53},
      {name: 'Both', protocol: 'tcp'}, // a service name is not resolved: no port
      {name: 'Unix', protocol: 'unix', path: '/tmp/a.sock'},
    ]);
    expect(jobSockets(undefined)).toEqual([]);
    expect(jobSockets(['x'])).toEqual([]);
  });
});
