// Copyright: lbkit developers
// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
//
// The Microsoft loopback adapter for win_realserver, loaded with
//   #AnsibleRequires -CSharpUtil ansible_collections.lbkit.loadbalancer.plugins.module_utils._Loopback
// Ansible compiles it with Ansible.Basic before the module runs. Every type used here is in
// mscorlib or System.dll (.NET Framework) and in the reference assemblies PowerShell 7
// compiles against, so the file needs no assembly reference directive. Warnings fail the
// compilation (Add-CSharpType's default), so keep it warning-free.

using System;
using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Text;

namespace Lbkit.Loopback
{
    // The SetupAPI calls devcon.exe makes for "devcon install netloop.inf *MSLOOP" and
    // "devcon remove", so no tool outside Windows itself is needed.
    public static class Device
    {
        [StructLayout(LayoutKind.Sequential)]
        public struct SP_DEVINFO_DATA
        {
            public int cbSize;
            public Guid ClassGuid;
            public int DevInst;
            public IntPtr Reserved;
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct SP_REMOVEDEVICE_PARAMS
        {
            public int HeaderSize;
            public int InstallFunction;
            public int Scope;
            public int HwProfile;
        }

        private const int DICD_GENERATE_ID = 0x1;
        private const int SPDRP_HARDWAREID = 0x1;
        private const int DIF_REMOVE = 0x5;
        private const int DIF_REGISTERDEVICE = 0x19;
        private const int DI_REMOVEDEVICE_GLOBAL = 0x1;
        private const int INSTALLFLAG_FORCE = 0x1;
        private static readonly IntPtr INVALID_HANDLE_VALUE = new IntPtr(-1);
        private static readonly Guid GUID_DEVCLASS_NET = new Guid("4d36e972-e325-11ce-bfc1-08002be10318");

        [DllImport("setupapi.dll", SetLastError = true)]
        private static extern IntPtr SetupDiCreateDeviceInfoList(ref Guid ClassGuid, IntPtr hwndParent);

        [DllImport("setupapi.dll", SetLastError = true, CharSet = CharSet.Unicode)]
        private static extern bool SetupDiCreateDeviceInfoW(IntPtr DeviceInfoSet, string DeviceName, ref Guid ClassGuid,
            string DeviceDescription, IntPtr hwndParent, int CreationFlags, ref SP_DEVINFO_DATA DeviceInfoData);

        [DllImport("setupapi.dll", SetLastError = true, CharSet = CharSet.Unicode)]
        private static extern bool SetupDiSetDeviceRegistryPropertyW(IntPtr DeviceInfoSet, ref SP_DEVINFO_DATA DeviceInfoData,
            int Property, byte[] PropertyBuffer, int PropertyBufferSize);

        [DllImport("setupapi.dll", SetLastError = true)]
        private static extern bool SetupDiCallClassInstaller(int InstallFunction, IntPtr DeviceInfoSet, ref SP_DEVINFO_DATA DeviceInfoData);

        [DllImport("setupapi.dll", SetLastError = true, CharSet = CharSet.Unicode)]
        private static extern bool SetupDiOpenDeviceInfoW(IntPtr DeviceInfoSet, string DeviceInstanceId, IntPtr hwndParent,
            int OpenFlags, ref SP_DEVINFO_DATA DeviceInfoData);

        [DllImport("setupapi.dll", SetLastError = true)]
        private static extern bool SetupDiSetClassInstallParamsW(IntPtr DeviceInfoSet, ref SP_DEVINFO_DATA DeviceInfoData,
            ref SP_REMOVEDEVICE_PARAMS ClassInstallParams, int ClassInstallParamsSize);

        [DllImport("setupapi.dll", SetLastError = true)]
        private static extern bool SetupDiDestroyDeviceInfoList(IntPtr DeviceInfoSet);

        [DllImport("newdev.dll", SetLastError = true, CharSet = CharSet.Unicode)]
        private static extern bool UpdateDriverForPlugAndPlayDevicesW(IntPtr hwndParent, string HardwareId, string FullInfPath,
            int InstallFlags, out bool RebootRequired);

        private static IntPtr NetClassSet()
        {
            Guid netClass = GUID_DEVCLASS_NET;
            IntPtr set = SetupDiCreateDeviceInfoList(ref netClass, IntPtr.Zero);
            if (set == INVALID_HANDLE_VALUE)
                throw new Win32Exception(Marshal.GetLastWin32Error(), "SetupDiCreateDeviceInfoList");
            return set;
        }

        // Registers a root-enumerated device with the hardware id, then installs the inf's driver
        // on it. Returns whether Windows asks for a reboot.
        public static bool Install(string infPath, string hardwareId)
        {
            Guid netClass = GUID_DEVCLASS_NET;
            IntPtr set = NetClassSet();
            try
            {
                SP_DEVINFO_DATA data = new SP_DEVINFO_DATA();
                data.cbSize = Marshal.SizeOf(typeof(SP_DEVINFO_DATA));
                if (!SetupDiCreateDeviceInfoW(set, "Net", ref netClass, null, IntPtr.Zero, DICD_GENERATE_ID, ref data))
                    throw new Win32Exception(Marshal.GetLastWin32Error(), "SetupDiCreateDeviceInfo");
                // REG_MULTI_SZ: the id, then an empty string
                byte[] ids = Encoding.Unicode.GetBytes(hardwareId + "\0\0");
                if (!SetupDiSetDeviceRegistryPropertyW(set, ref data, SPDRP_HARDWAREID, ids, ids.Length))
                    throw new Win32Exception(Marshal.GetLastWin32Error(), "SetupDiSetDeviceRegistryProperty");
                if (!SetupDiCallClassInstaller(DIF_REGISTERDEVICE, set, ref data))
                    throw new Win32Exception(Marshal.GetLastWin32Error(), "SetupDiCallClassInstaller(DIF_REGISTERDEVICE)");
            }
            finally
            {
                SetupDiDestroyDeviceInfoList(set);
            }
            bool reboot;
            if (!UpdateDriverForPlugAndPlayDevicesW(IntPtr.Zero, hardwareId, infPath, INSTALLFLAG_FORCE, out reboot))
                throw new Win32Exception(Marshal.GetLastWin32Error(), "UpdateDriverForPlugAndPlayDevices");
            return reboot;
        }

        // Removes the device with this PnP instance id from every hardware profile.
        public static void Remove(string instanceId)
        {
            IntPtr set = NetClassSet();
            try
            {
                SP_DEVINFO_DATA data = new SP_DEVINFO_DATA();
                data.cbSize = Marshal.SizeOf(typeof(SP_DEVINFO_DATA));
                if (!SetupDiOpenDeviceInfoW(set, instanceId, IntPtr.Zero, 0, ref data))
                    throw new Win32Exception(Marshal.GetLastWin32Error(), "SetupDiOpenDeviceInfo");
                SP_REMOVEDEVICE_PARAMS removal = new SP_REMOVEDEVICE_PARAMS();
                removal.HeaderSize = 8;
                removal.InstallFunction = DIF_REMOVE;
                removal.Scope = DI_REMOVEDEVICE_GLOBAL;
                removal.HwProfile = 0;
                if (!SetupDiSetClassInstallParamsW(set, ref data, ref removal, Marshal.SizeOf(typeof(SP_REMOVEDEVICE_PARAMS))))
                    throw new Win32Exception(Marshal.GetLastWin32Error(), "SetupDiSetClassInstallParams");
                if (!SetupDiCallClassInstaller(DIF_REMOVE, set, ref data))
                    throw new Win32Exception(Marshal.GetLastWin32Error(), "SetupDiCallClassInstaller(DIF_REMOVE)");
            }
            finally
            {
                SetupDiDestroyDeviceInfoList(set);
            }
        }
    }
}
