# The systemd sandboxing both units share (the server and its nightly
# backup). Each unit adds, in its own hardening block, what differs: user,
# writable paths, capabilities, address families and the system-call filter.
{
  UMask = "0077";
  ProtectSystem = "strict";
  PrivateTmp = true;
  PrivateDevices = true;
  NoNewPrivileges = true;
  ProtectKernelTunables = true;
  ProtectKernelModules = true;
  ProtectKernelLogs = true;
  ProtectControlGroups = true;
  ProtectClock = true;
  ProtectHostname = true;
  ProtectProc = "invisible";
  RestrictNamespaces = true;
  RestrictRealtime = true;
  RestrictSUIDSGID = true;
  LockPersonality = true;
  DevicePolicy = "closed";
  SystemCallArchitectures = "native";
  SystemCallErrorNumber = "EPERM";
}
