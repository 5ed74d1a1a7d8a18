Write-Output '{"impl": "modern.ps1"}'
