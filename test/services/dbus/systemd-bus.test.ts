// Unit names and object paths as systemd spells them; the socket a scope uses.
import path from 'node:path';
import {afterEach, describe, expect, test} from 'vitest';
import {privateSocket, unitName, unitObjectPath} from '../../../src/services/dbus/systemd-bus.js';

describe('unitName', () => {
  test('a name with a unit type stays; a plain name gets .service, as systemctl does', () => {
    expect(unitName('web.service')).toBe('web.service');
    expect(unitName('web')).toBe('web.service');
    expect(unitName('app.socket')).toBe('app.socket');
    expect(unitName('getty@tty1.service')).toBe('getty@tty1.service');
    expect(unitName('foo.bar')).toBe('foo.bar.service'); // "bar" is not a unit type
    expect(unitName('a:b_c-d\\x2d.timer')).toBe('a:b_c-d\\x2d.timer');
  });

  test('names systemctl would escape, or read as paths, are left to systemctl', () => {
    for (const name of ['/home/x', 'a b', 'x; touch y', 'ünït', 'a*', `${'x'.repeat(250)}`]) {
      expect(unitName(name)).toBeUndefined();
    }
  });
});

describe('unitObjectPath', () => {
  test("bytes other than [A-Za-z0-9] become _xx (systemd's bus_label_escape)", () => {
    expect(unitObjectPath('web.service')).toBe('/org/freedesktop/systemd1/unit/web_2eservice');
    expect(unitObjectPath('getty@tty1.service')).toBe(
      '/org/freedesktop/systemd1/unit/getty_40tty1_2eservice',
    );
    expect(unitObjectPath('a-b_c\\d:e.service')).toBe(
      '/org/freedesktop/systemd1/unit/a_2db_5fc_5cd_3ae_2eservice',
    );
    expect(unitObjectPath('')).toBe('/org/freedesktop/systemd1/unit/_');
  });
});

describe('privateSocket', () => {
  const saved = process.env.XDG_RUNTIME_DIR;
  afterEach(() => {
    if (saved === undefined) {
      delete process.env.XDG_RUNTIME_DIR;
    } else {
      process.env.XDG_RUNTIME_DIR = saved;
    }
  });

  test("the user manager's is under XDG_RUNTIME_DIR; none without an absolute one", () => {
    process.env.XDG_RUNTIME_DIR = '/run/user/1000';
    expect(privateSocket('user')).toBe(path.join('/run/user/1000', 'systemd', 'private'));
    process.env.XDG_RUNTIME_DIR = 'relative/dir';
    expect(privateSocket('user')).toBeUndefined();
    delete process.env.XDG_RUNTIME_DIR;
    expect(privateSocket('user')).toBeUndefined();
  });

  test("the system manager's only for root (others go through systemctl and polkit)", () => {
    expect(privateSocket('system')).toBe(
      process.getuid?.() === 0 ? '/run/systemd/private' : undefined,
    );
  });
});
