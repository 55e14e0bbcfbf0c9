<#
.SYNOPSIS
    Регистрирует задачу roadmap-sync в Планировщике заданий Windows.

.DESCRIPTION
    Задача запускает «roadmap-sync serve --once» каждые 15 минут и через 2 минуты после входа
    в систему. Синхронизация идёт, только когда по расписанию (в часовом поясе муниципалитета)
    подошло её время или она была пропущена, пока компьютер был выключен; иначе команда сразу
    завершается. Две синхронизации одновременно не идут никогда.

    Пароль почты (если напоминания включены) храните в переменной окружения пользователя,
    имя которой указано в [smtp] password_env, например:
        setx ROADMAP_SMTP_PASSWORD "пароль"

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File deploy\windows\install-task.ps1 -Config C:\roadmap-sync\config.toml

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File deploy\windows\install-task.ps1 -Config D:\МОУО\config.toml -Root C:\roadmap-sync -EveryMinutes 30
#>
param(
    [Parameter(Mandatory = $true)][string]$Config,
    [string]$Root = (Resolve-Path (Join-Path $PSScriptRoot "..\..")).Path,
    [string]$TaskName = "roadmap-sync",
    [ValidateRange(5, 120)][int]$EveryMinutes = 15
)
$ErrorActionPreference = "Stop"

$exe = Join-Path $Root ".venv\Scripts\roadmap-sync.exe"
if (-not (Test-Path $exe)) {
    throw "Не найден $exe. Установите roadmap-sync (README, раздел «Установка»)."
}
$Config = (Resolve-Path $Config).Path

# The same check an administrator would make by hand: the settings must read.
& $exe status --config $Config | Out-Null
if ($LASTEXITCODE -ne 0) {
    throw "Файл настроек не читается. Проверьте: `"$exe`" status --config `"$Config`""
}

$action = New-ScheduledTaskAction -Execute $exe `
    -Argument "serve --once --config `"$Config`"" -WorkingDirectory $Root

# A daily trigger repeated every N minutes for a day, and one at logon.
$daily = New-ScheduledTaskTrigger -Daily -At "00:00"
$repeat = New-ScheduledTaskTrigger -Once -At "00:00" `
    -RepetitionInterval (New-TimeSpan -Minutes $EveryMinutes) -RepetitionDuration (New-TimeSpan -Days 1)
$daily.Repetition = $repeat.Repetition
$logon = New-ScheduledTaskTrigger -AtLogOn -User "$env:USERDOMAIN\$env:USERNAME"
$logon.Delay = "PT2M"

$settings = New-ScheduledTaskSettingsSet -StartWhenAvailable -MultipleInstances IgnoreNew `
    -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -ExecutionTimeLimit (New-TimeSpan -Hours 4)

Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger @($daily, $logon) `
    -Settings $settings -Force `
    -Description "roadmap-sync: ночная синхронизация дорожных карт школ и напоминания" | Out-Null

Write-Host "Задача «$TaskName» зарегистрирована: каждые $EveryMinutes мин. и при входе в систему."
Write-Host "Проверка: `"$exe`" status --config `"$Config`""
Write-Host "Запустить сейчас: Start-ScheduledTask -TaskName $TaskName"
