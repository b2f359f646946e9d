#!powershell

# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell Ansible.ModuleUtils.AddType

# Direct Routing on a Windows real server (the manuals' four steps): a loopback adapter found
# by name (created when missing), the VIPs on it as host addresses, weak host receive on the
# NICs and weak host receive + send on the loopback, and optionally a firewall rule.
#
# Every decision reads the current value first and changes only what differs, so a second run
# reports no change and check mode reports the same changes without making them. What lbkit
# itself turned on (the loopback it created, each weak host setting it enabled) is recorded
# under HKLM:\SOFTWARE\lbkit\loadbalancer\win_realserver, so state=absent undoes exactly that.

Set-StrictMode -Version 2.0

$spec = @{
    options = @{
        vips = @{ type = 'list'; elements = 'str'; required = $true }
        loopback_name = @{ type = 'str'; default = 'lbkit-loopback' }
        create_loopback = @{ type = 'bool'; default = $true }
        nic = @{ type = 'list'; elements = 'str'; default = @() }
        firewall_port = @{ type = 'int' }
        firewall_protocol = @{ type = 'str'; choices = @('tcp', 'udp'); default = 'tcp' }
        state = @{ type = 'str'; choices = @('present', 'absent'); default = 'present' }
        listen_ports = @{ type = 'list'; elements = 'int'; default = @() }
    }
    supports_check_mode = $true
}

$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)
$checkMode = $module.CheckMode
$state = $module.Params.state
$loopbackName = $module.Params.loopback_name
$nics = @($module.Params.nic)
$firewallPort = $module.Params.firewall_port
$firewallProtocol = $module.Params.firewall_protocol.ToUpperInvariant()

$recordKey = 'HKLM:\SOFTWARE\lbkit\loadbalancer\win_realserver'
# Microsoft's loopback driver (netloop.inf, hardware id *MSLOOP) names its adapters so; Windows
# appends " #2" and so on to a second one. Npcap's "Npcap Loopback Adapter" does not match.
$loopbackDescriptions = @('Microsoft KM-TEST Loopback Adapter*', 'Microsoft Loopback Adapter*')

$module.Result.changed = $false
$module.Result.changes = [System.Collections.Generic.List[String]]@()
$before = @{ loopback = $null; vips = @(); weak_host = @(); firewall = $null }
# the loopback this run creates had no settings before it: they are reported under after only
$createdNow = $false
$after = @{ loopback = $null; vips = @(); weak_host = @(); firewall = $null }

$setupApi = @'
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
'@

# --- validation: names and addresses are checked before any of them reaches a cmdlet --------

# Letters, digits, space and . _ ( ) # + , - : no wildcard (* ? [ ]) that would make -Name or
# -InterfaceAlias match several adapters, and no quote.
$namePattern = '^[A-Za-z0-9][A-Za-z0-9 ._()#+,-]{0,254}[A-Za-z0-9._()#+-]$|^[A-Za-z0-9]$'

Function Assert-InterfaceName([String]$Option, [String]$Name) {
    if ($Name -cnotmatch $namePattern) {
        $module.FailJson("$($Option): '$Name' is not a valid interface name; use letters, digits, spaces and . _ ( ) # + , - (no wildcards or quotes).")
    }
}

Assert-InterfaceName 'loopback_name' $loopbackName
foreach ($name in $nics) { Assert-InterfaceName 'nic' $name }
if ($state -eq 'present' -and $nics.Count -eq 0) {
    $module.FailJson("nic is required with state=present: name the interface(s) clients' packets arrive on (for example 'Ethernet'), where weak host receive is enabled.")
}
if ($null -ne $firewallPort -and ($firewallPort -lt 1 -or $firewallPort -gt 65535)) {
    $module.FailJson("firewall_port: $firewallPort is not a port (1-65535).")
}
$listenPorts = @($module.Params.listen_ports)

$vips = [System.Collections.Generic.List[System.Net.IPAddress]]@()
$index = 0
foreach ($text in $module.Params.vips) {
    $address = $null
    $valid = [System.Net.IPAddress]::TryParse($text, [ref]$address) -and -not $text.Contains('/')
    # TryParse also reads "10" or "10.1" as IPv4 addresses; a VIP is written in full
    if ($valid -and $address.AddressFamily -eq [System.Net.Sockets.AddressFamily]::InterNetwork) {
        $valid = $text -match '^\d{1,3}(\.\d{1,3}){3}$'
    }
    if (-not $valid) {
        $module.FailJson("vips[$index]: '$text' is not a bare IP address; give the address without a prefix length.")
    }
    $ipv4Special = ($address.AddressFamily -eq [System.Net.Sockets.AddressFamily]::InterNetwork) -and ($address.GetAddressBytes()[0] -ge 224)
    if ([System.Net.IPAddress]::IsLoopback($address) -or $address.IsIPv6LinkLocal -or $address.IsIPv6Multicast -or $ipv4Special -or
        $address.Equals([System.Net.IPAddress]::Any) -or $address.Equals([System.Net.IPAddress]::IPv6Any)) {
        $module.FailJson("vips[$index]: $text is not a unicast address clients can reach.")
    }
    if ($vips.Contains($address)) {
        $module.FailJson("vips[$index]: $text is listed twice; list each VIP once.")
    }
    $vips.Add($address)
    $index++
}
$families = @($vips | ForEach-Object { if ($_.AddressFamily -eq 'InterNetwork') { 'IPv4' } else { 'IPv6' } } | Sort-Object -Unique)

# --- helpers --------------------------------------------------------------------------------

Function Add-Change([String]$Text) {
    $module.Result.changes.Add($Text)
    $module.Result.changed = $true
}

Function Get-Adapter([String]$Name) {
    Get-NetAdapter -Name $Name -IncludeHidden -ErrorAction SilentlyContinue | Select-Object -First 1
}

Function Test-LoopbackAdapter($Adapter) {
    foreach ($pattern in $loopbackDescriptions) {
        if ($Adapter.InterfaceDescription -like $pattern) { return $true }
    }
    return $false
}

Function Get-Record([String]$Name) {
    $item = Get-ItemProperty -LiteralPath $recordKey -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $item) { return $null }
    return $item.$Name
}

Function Set-Record([String]$Name, [String]$Value) {
    if (-not (Test-Path -LiteralPath $recordKey)) { New-Item -Path $recordKey -Force | Out-Null }
    New-ItemProperty -LiteralPath $recordKey -Name $Name -Value $Value -PropertyType String -Force | Out-Null
}

Function Remove-Record([String]$Name) {
    Remove-ItemProperty -LiteralPath $recordKey -Name $Name -ErrorAction SilentlyContinue
}

Function Get-HostAddress($Adapter) {
    # the loopback's service addresses: link-local and APIPA ones are Windows' own
    @(Get-NetIPAddress -InterfaceIndex $Adapter.ifIndex -ErrorAction SilentlyContinue | Where-Object {
            $_.IPAddress -notlike 'fe80:*' -and $_.IPAddress -notlike '169.254.*'
        })
}

Function Get-HostPrefix([System.Net.IPAddress]$Address) {
    if ($Address.AddressFamily -eq 'InterNetwork') { return 32 }
    return 128
}

# One weak host setting of one interface and family: enable it (present) and record that lbkit
# did, or (absent) disable it again only where the record says lbkit enabled it.
Function Set-WeakHost($Adapter, [String]$Family, [String]$Setting, [Boolean]$Enable) {
    $label = "$($Adapter.Name) $Family $Setting"
    $record = "WeakHost:$($Adapter.InterfaceGuid):$($Family):$Setting"
    $interface = Get-NetIPInterface -InterfaceIndex $Adapter.ifIndex -AddressFamily $Family -ErrorAction SilentlyContinue
    if ($null -eq $interface) { return }
    $current = [String]$interface.$Setting
    if (-not ($createdNow -and [String]$Adapter.InterfaceGuid -eq [String]$loopback.InterfaceGuid)) {
        $before.weak_host += "$label=$current"
    }
    if ($Enable -and $current -ne 'Enabled') {
        Add-Change "enable $Setting on $($Adapter.Name) ($Family)"
        if (-not $checkMode) {
            $arguments = @{ InterfaceIndex = $Adapter.ifIndex; AddressFamily = $Family; $Setting = 'Enabled' }
            Set-NetIPInterface @arguments
            Set-Record $record 'Enabled'
        }
        $current = 'Enabled'
    }
    elseif (-not $Enable -and $current -eq 'Enabled' -and $null -ne (Get-Record $record)) {
        Add-Change "disable $Setting on $($Adapter.Name) ($Family), which lbkit enabled"
        if (-not $checkMode) {
            $arguments = @{ InterfaceIndex = $Adapter.ifIndex; AddressFamily = $Family; $Setting = 'Disabled' }
            Set-NetIPInterface @arguments
            Remove-Record $record
        }
        $current = 'Disabled'
    }
    $after.weak_host += "$label=$current"
}

# --- 1. the loopback adapter ----------------------------------------------------------------

$loopback = Get-Adapter $loopbackName
if ($null -ne $loopback -and -not (Test-LoopbackAdapter $loopback)) {
    $module.FailJson("loopback_name: '$loopbackName' is the adapter '$($loopback.InterfaceDescription)', not a Microsoft loopback adapter; choose another name.")
}
$before.loopback = ($null -ne $loopback)
$after.loopback = $before.loopback

if ($null -eq $loopback -and $state -eq 'present') {
    if (-not $module.Params.create_loopback) {
        $module.FailJson("there is no loopback adapter named '$loopbackName' and create_loopback is false; create it (Microsoft KM-TEST Loopback Adapter) or set create_loopback: true.")
    }
    Add-Change "create the loopback adapter $loopbackName (netloop.inf, *MSLOOP)"
    $after.loopback = $true
    if (-not $checkMode) {
        $known = @(Get-NetAdapter -IncludeHidden | Where-Object { Test-LoopbackAdapter $_ } | ForEach-Object { [String]$_.InterfaceGuid })
        Add-CSharpType -AnsibleModule $module -References $setupApi
        $inf = Join-Path $env:SystemRoot 'INF\netloop.inf'
        if ([Lbkit.Loopback.Device]::Install($inf, '*MSLOOP')) { $module.Result.reboot_required = $true }
        # the adapter shows up asynchronously once the driver has started
        $new = $null
        for ($try = 0; $try -lt 30 -and $null -eq $new; $try++) {
            $new = Get-NetAdapter -IncludeHidden | Where-Object {
                (Test-LoopbackAdapter $_) -and $known -notcontains [String]$_.InterfaceGuid
            } | Select-Object -First 1
            if ($null -eq $new) { Start-Sleep -Seconds 1 }
        }
        if ($null -eq $new) {
            $module.FailJson("the loopback driver was installed, but no new loopback adapter appeared within 30 seconds.")
        }
        Rename-NetAdapter -Name $new.Name -NewName $loopbackName
        $loopback = Get-Adapter $loopbackName
        $createdNow = $true
        Set-Record "Created:$loopbackName" ([String]$loopback.PnPDeviceID)
    }
}

# --- 2. the VIPs on the loopback, as host addresses -----------------------------------------

$held = @()
if ($null -ne $loopback) { $held = Get-HostAddress $loopback }
$before.vips = @($held | ForEach-Object { "$($_.IPAddress)/$($_.PrefixLength)" })
$afterVips = [System.Collections.Generic.List[String]]@($before.vips)

if ($state -eq 'present' -and $families -contains 'IPv4') {
    # the VIPs are static; a DHCP client on the loopback would only add an APIPA address. A new
    # adapter starts with DHCP on, which is what check mode predicts for the one it would create.
    $dhcp = 'Enabled'
    if ($null -ne $loopback) {
        $ipv4 = Get-NetIPInterface -InterfaceIndex $loopback.ifIndex -AddressFamily IPv4 -ErrorAction SilentlyContinue
        $dhcp = if ($null -ne $ipv4) { [String]$ipv4.Dhcp } else { 'Disabled' }
    }
    if ($dhcp -eq 'Enabled') {
        Add-Change "disable DHCP on $loopbackName"
        if (-not $checkMode) { Set-NetIPInterface -InterfaceIndex $loopback.ifIndex -AddressFamily IPv4 -Dhcp Disabled }
    }
}

foreach ($vip in $vips) {
    $text = $vip.ToString()
    $prefix = Get-HostPrefix $vip
    $matching = @($held | Where-Object { ([System.Net.IPAddress]::Parse($_.IPAddress)).Equals($vip) })
    if ($state -eq 'absent') {
        foreach ($entry in $matching) {
            Add-Change "remove $text from $loopbackName"
            if (-not $checkMode) { Remove-NetIPAddress -InterfaceIndex $loopback.ifIndex -IPAddress $entry.IPAddress -Confirm:$false }
            [void]$afterVips.Remove("$($entry.IPAddress)/$($entry.PrefixLength)")
        }
        continue
    }
    $exact = @($matching | Where-Object { $_.PrefixLength -eq $prefix })
    if ($exact.Count -gt 0) {
        # SkipAsSource keeps Windows from picking the VIP as the source of its own connections
        if (-not $exact[0].SkipAsSource) {
            Add-Change "set SkipAsSource on $text"
            if (-not $checkMode) { Set-NetIPAddress -InterfaceIndex $loopback.ifIndex -IPAddress $text -SkipAsSource $true }
        }
        continue
    }
    foreach ($entry in $matching) {
        # a wider prefix would claim the VIP's whole subnet for the loopback
        Add-Change "remove $($entry.IPAddress)/$($entry.PrefixLength) from $loopbackName"
        if (-not $checkMode) { Remove-NetIPAddress -InterfaceIndex $loopback.ifIndex -IPAddress $entry.IPAddress -Confirm:$false }
        [void]$afterVips.Remove("$($entry.IPAddress)/$($entry.PrefixLength)")
    }
    Add-Change "add $text/$prefix to $loopbackName"
    if (-not $checkMode) {
        New-NetIPAddress -InterfaceIndex $loopback.ifIndex -IPAddress $text -PrefixLength $prefix -SkipAsSource $true | Out-Null
    }
    $afterVips.Add("$text/$prefix")
}
$after.vips = @($afterVips)

# --- 3. weak host receive on the NICs, weak host receive and send on the loopback ----------

$adapters = @()
foreach ($name in $nics) {
    $adapter = Get-Adapter $name
    if ($null -eq $adapter) {
        $known = (@(Get-NetAdapter -IncludeHidden | ForEach-Object { $_.Name }) | Sort-Object) -join ', '
        $module.FailJson("nic: there is no network adapter named '$name' (adapters: $known).")
    }
    $adapters += $adapter
}
$createdLoopback = Get-Record "Created:$loopbackName"
$removeLoopback = ($state -eq 'absent') -and ($null -ne $loopback) -and ($after.vips.Count -eq 0) -and
    ($null -ne $createdLoopback) -and ($createdLoopback -eq [String]$loopback.PnPDeviceID)

if ($state -eq 'present') {
    foreach ($family in $families) {
        foreach ($adapter in $adapters) { Set-WeakHost $adapter $family 'WeakHostReceive' $true }
        if ($null -ne $loopback) {
            Set-WeakHost $loopback $family 'WeakHostReceive' $true
            Set-WeakHost $loopback $family 'WeakHostSend' $true
        }
        else {
            # the loopback exists only after this run (check mode): a new adapter has both off
            foreach ($setting in @('WeakHostReceive', 'WeakHostSend')) {
                Add-Change "enable $setting on $loopbackName ($family)"
                $after.weak_host += "$loopbackName $family $setting=Enabled"
            }
        }
    }
}
elseif ($after.vips.Count -eq 0) {
    # absent reverts lbkit's weak host settings only once no VIP is left on the loopback (other
    # services may still use the VIPs that remain), on whichever adapter the record names
    $item = Get-Item -LiteralPath $recordKey -ErrorAction SilentlyContinue
    $records = @()
    if ($null -ne $item) { $records = @($item.Property | Where-Object { $_ -like 'WeakHost:*' }) }
    foreach ($record in $records) {
        # WeakHost:<interface guid>:<family>:<setting>; a guid holds no ':'
        $parts = $record.Split(':')
        $adapter = Get-NetAdapter -IncludeHidden | Where-Object { [String]$_.InterfaceGuid -eq $parts[1] } | Select-Object -First 1
        $gone = ($null -eq $adapter) -or ($removeLoopback -and [String]$adapter.InterfaceGuid -eq [String]$loopback.InterfaceGuid)
        if ($gone) {
            # the adapter is gone, or is about to go with its settings: only the record is left
            if (-not $checkMode) { Remove-Record $record }
            continue
        }
        Set-WeakHost $adapter $parts[2] $parts[3] $false
    }
}

# --- 4. the firewall rule for the service port ----------------------------------------------

if ($null -ne $firewallPort) {
    $ruleName = "lbkit-realserver-$($firewallProtocol.ToLowerInvariant())-$firewallPort"
    $rule = Get-NetFirewallRule -Name $ruleName -ErrorAction SilentlyContinue
    $current = @()
    if ($null -ne $rule) {
        $current = @(($rule | Get-NetFirewallAddressFilter).LocalAddress | Where-Object { $_ -ne 'Any' })
    }
    $wanted = [System.Collections.Generic.List[String]]@($current)
    foreach ($vip in $vips) {
        $text = $vip.ToString()
        if ($state -eq 'present' -and -not $wanted.Contains($text)) { $wanted.Add($text) }
        if ($state -eq 'absent') { [void]$wanted.Remove($text) }
    }
    $before.firewall = if ($null -ne $rule) { @{ name = $ruleName; local_addresses = $current } } else { $null }
    $after.firewall = if ($wanted.Count -gt 0) { @{ name = $ruleName; local_addresses = @($wanted) } } else { $null }
    if ($null -eq $rule -and $wanted.Count -gt 0) {
        Add-Change "create firewall rule $ruleName ($firewallProtocol $firewallPort to $($wanted -join ', '))"
        if (-not $checkMode) {
            New-NetFirewallRule -Name $ruleName -DisplayName "lbkit real server $firewallProtocol $firewallPort" -Group 'lbkit' `
                -Direction Inbound -Action Allow -Protocol $firewallProtocol -LocalPort $firewallPort `
                -LocalAddress @($wanted) -Profile Any | Out-Null
        }
    }
    elseif ($null -ne $rule -and $wanted.Count -eq 0) {
        Add-Change "remove firewall rule $ruleName"
        if (-not $checkMode) { Remove-NetFirewallRule -Name $ruleName }
    }
    elseif ($null -ne $rule -and ((@($current | Sort-Object) -join ',') -ne (@($wanted | Sort-Object) -join ','))) {
        Add-Change "set the local addresses of firewall rule $ruleName to $($wanted -join ', ')"
        if (-not $checkMode) { Set-NetFirewallRule -Name $ruleName -LocalAddress @($wanted) }
    }
}

# --- 5. the loopback lbkit created goes once it holds no VIP --------------------------------

if ($removeLoopback) {
    Add-Change "remove the loopback adapter $loopbackName, which lbkit created"
    $after.loopback = $false
    if (-not $checkMode) {
        Add-CSharpType -AnsibleModule $module -References $setupApi
        [Lbkit.Loopback.Device]::Remove($createdLoopback)
        Remove-Record "Created:$loopbackName"
    }
}

$module.Diff.before = $before
$module.Diff.after = $after
$module.Result.changes = @($module.Result.changes)

# --- 6. the service listens on a VIP or on all addresses (read only, so in check mode too) ---

# The rule and the message are realserver_linux's: a listener fits when it is bound to a VIP or
# to every address (0.0.0.0, ::); one bound elsewhere never sees the VIP's packets.
if ($state -eq 'present' -and $listenPorts.Count -gt 0) {
    $fitting = @('0.0.0.0', '::') + @($vips | ForEach-Object { $_.ToString() })
    # -ErrorAction: with no listening socket at all the cmdlet reports an error instead of nothing
    $listening = @(Get-NetTCPConnection -State Listen -ErrorAction SilentlyContinue)
    $found = @{}
    $problems = [System.Collections.Generic.List[String]]@()
    foreach ($port in $listenPorts) {
        $bound = @($listening | Where-Object { $_.LocalPort -eq $port } | ForEach-Object { [String]$_.LocalAddress } | Sort-Object -Unique)
        $good = @($bound | Where-Object { $fitting -contains $_ })
        $found["$port"] = $good
        if ($good.Count -eq 0 -and $bound.Count -gt 0) {
            $problems.Add("port $($port): bound only to $($bound -join ', ')")
        }
        elseif ($good.Count -eq 0) {
            $problems.Add("port $($port): nothing listens")
        }
    }
    $module.Result.listeners = $found
    if ($problems.Count -gt 0) {
        $vipList = @($vips | ForEach-Object { $_.ToString() }) -join ', '
        $module.FailJson("listen_ports: $($problems -join '; '). Fix: bind the service to the VIP ($vipList) or to all addresses (0.0.0.0 / [::]); a service bound elsewhere never sees the VIP's packets.")
    }
}

$module.ExitJson()
