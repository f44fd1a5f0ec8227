; Inno Setup 6 script for the Windows bundle.  UNTESTED: it has never been compiled or run;
; no Windows build machine was available (see README, "Windows and macOS: untested here").
;
; Build the bundle on Windows first (python installer\build.py, which gives
; dist\sleepvit\sleepvit.exe and sleepvit-gui.exe), then:
;   iscc /DAppVersion=0.1.0 installer\windows\sleepvit.iss
; and sign the setup program and both executables (signtool sign /fd SHA256 /tr <timestamp
; URL> /td SHA256 ...) before it goes to a hospital: AppLocker rules trust publishers.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6C1D6F0E-7B0B-4E55-9C55-5E1E2F0B7A13}
AppName=SleepViT
AppVersion={#AppVersion}
AppPublisher=SleepViT
DefaultDirName={autopf}\SleepViT
DefaultGroupName=SleepViT
; A per-user install needs no admin rights; an administrator may install for all users.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=sleepvit-{#AppVersion}-windows-x64-setup
Compression=lzma2
SolidCompression=yes
UninstallDisplayIcon={app}\sleepvit-gui.exe
; The program writes nothing into its folder, so Program Files (read-only for users) is fine.

[Files]
Source: "..\..\dist\sleepvit\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\SleepViT"; Filename: "{app}\sleepvit-gui.exe"
Name: "{group}\Uninstall SleepViT"; Filename: "{uninstallexe}"

