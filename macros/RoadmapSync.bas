Attribute VB_Name = "RoadmapSync"
' Вкладка «Дорожная карта» (roadmap-sync): кнопки для книги школы и для свода координатора.
' Каждая кнопка вызывает функцию Python из модуля sync.addin через надстройку xlwings
' (RunPython); проверка, отправка и синхронизация выполняются в Python, здесь только вызов.
' Исходный текст: macros/RoadmapSync.bas; сборка надстройки: roadmap-sync build-addin.
Option Explicit

Private Const TITLE As String = "Дорожная карта"
' RunPython of the xlwings add-in that "xlwings addin install" puts into XLSTART.
Private Const XLWINGS_RUNPYTHON As String = "'xlwings.xlam'!Main.RunPython"
Private Const PYTHON_MODULE As String = "sync.addin"

' Protection options of the sheets unprotected by RoadmapUnprotect, keyed "book|sheet".
Private mProtection As Collection

' --- Ribbon callbacks (customUI.xml, onAction) --------------------------------------------
' "control" is the ribbon's IRibbonControl, declared As Object so that the project needs no
' reference to the Office type library.

Public Sub OnCheck(ByVal control As Object)
    Roadmap_Check
End Sub

Public Sub OnRefreshStatuses(ByVal control As Object)
    Roadmap_RefreshStatuses
End Sub

Public Sub OnSend(ByVal control As Object)
    Roadmap_Send
End Sub

Public Sub OnSync(ByVal control As Object)
    Roadmap_Sync
End Sub

Public Sub OnOpenSchool(ByVal control As Object)
    Roadmap_OpenSchool
End Sub

' --- The same buttons as macros without arguments (Alt+F8, Quick Access Toolbar) -----------

Public Sub Roadmap_Check()
    RunAddin "check"
End Sub

Public Sub Roadmap_RefreshStatuses()
    RunAddin "refresh_statuses"
End Sub

Public Sub Roadmap_Send()
    ' What goes to the inbox is the file on disk: save the open book first.
    If Not SaveBeforeSending() Then Exit Sub
    RunAddin "send"
End Sub

Public Sub Roadmap_Sync()
    RunAddin "sync_now"
End Sub

Public Sub Roadmap_OpenSchool()
    RunAddin "open_school"
End Sub

' --- Called from Python around writing locked cells ----------------------------------------
' The Контроль column and the hidden service sheet are locked on a protected sheet. Python
' lifts the protection with the password from its configuration and puts it back afterwards
' with exactly the options the sheet had.

Public Function RoadmapUnprotect(ByVal bookName As String, ByVal sheetName As String, _
                                 ByVal password As String) As Boolean
    Dim ws As Worksheet
    On Error GoTo Failed
    Set ws = Workbooks(bookName).Worksheets(sheetName)
    If Not ws.ProtectContents Then
        RoadmapUnprotect = True
        Exit Function
    End If
    RememberProtection ws, bookName & "|" & sheetName
    ws.Unprotect password
    RoadmapUnprotect = Not ws.ProtectContents
    Exit Function
Failed:
    RoadmapUnprotect = False
End Function

Public Function RoadmapProtect(ByVal bookName As String, ByVal sheetName As String, _
                               ByVal password As String) As Boolean
    Dim ws As Worksheet, key As String, flags As String
    On Error GoTo Failed
    key = bookName & "|" & sheetName
    flags = RecallProtection(key)
    If flags = "" Then
        ' Not unprotected by RoadmapUnprotect: nothing to put back.
        RoadmapProtect = True
        Exit Function
    End If
    Set ws = Workbooks(bookName).Worksheets(sheetName)
    ws.Protect Password:=password, DrawingObjects:=Flag(flags, 1), Contents:=True, _
        Scenarios:=Flag(flags, 2), AllowFormattingCells:=Flag(flags, 3), _
        AllowFormattingColumns:=Flag(flags, 4), AllowFormattingRows:=Flag(flags, 5), _
        AllowInsertingColumns:=Flag(flags, 6), AllowInsertingRows:=Flag(flags, 7), _
        AllowInsertingHyperlinks:=Flag(flags, 8), AllowDeletingColumns:=Flag(flags, 9), _
        AllowDeletingRows:=Flag(flags, 10), AllowSorting:=Flag(flags, 11), _
        AllowFiltering:=Flag(flags, 12), AllowUsingPivotTables:=Flag(flags, 13)
    ws.EnableSelection = CLng(Mid$(flags, 14))
    mProtection.Remove key
    RoadmapProtect = ws.ProtectContents
    Exit Function
Failed:
    RoadmapProtect = False
End Function

' The coordinator's review columns of the master («Отметка МОУО», «Комментарий МОУО») stay
' editable on its protected sheet: Python calls this on their data cells after refreshing the
' master in the open book (its sheet unprotected meanwhile). choices: the dropdown's values,
' separated by commas ("" for free text).
Public Function RoadmapUnlock(ByVal bookName As String, ByVal sheetName As String, _
                              ByVal address As String, ByVal choices As String) As Boolean
    Dim cells As Range
    On Error GoTo Failed
    Set cells = Workbooks(bookName).Worksheets(sheetName).Range(address)
    cells.Locked = False
    If choices <> "" Then
        cells.Validation.Delete
        cells.Validation.Add Type:=xlValidateList, AlertStyle:=xlValidAlertStop, _
            Formula1:=choices
    End If
    RoadmapUnlock = True
    Exit Function
Failed:
    RoadmapUnlock = False
End Function

' --- Helpers ---------------------------------------------------------------------------------

Private Sub RunAddin(ByVal action As String)
    Dim command As String
    If ActiveWorkbook Is Nothing Then
        MsgBox "Откройте книгу дорожной карты (или свод) и нажмите кнопку ещё раз.", _
            vbInformation, TITLE
        Exit Sub
    End If
    ' host: the workbook that holds these macros, for RoadmapUnprotect and RoadmapProtect.
    command = "import " & PYTHON_MODULE & "; " & PYTHON_MODULE & "." & action & _
        "(host=" & PythonText(ThisWorkbook.Name) & ")"
    On Error GoTo Failed
    Application.Run XLWINGS_RUNPYTHON, command
    Exit Sub
Failed:
    MsgBox "Не удалось запустить Python через надстройку xlwings: " & Err.Description & _
        vbLf & vbLf & "Установите надстройку командой «xlwings addin install», укажите " & _
        "интерпретатор Python на вкладке xlwings и перезапустите Excel " & _
        "(инструкция: docs/addin.md).", vbExclamation, TITLE
End Sub

Private Function SaveBeforeSending() As Boolean
    Dim wb As Workbook
    Set wb = ActiveWorkbook
    If wb Is Nothing Then Exit Function
    If wb.Path = "" Then
        MsgBox "Сначала сохраните книгу на компьютере (Файл — Сохранить как), " & _
            "затем нажмите «Отправить».", vbInformation, TITLE
        Exit Function
    End If
    On Error GoTo Failed
    If Not wb.Saved Then wb.Save
    SaveBeforeSending = True
    Exit Function
Failed:
    MsgBox "Книга не сохранена, поэтому не отправлена: " & Err.Description, _
        vbExclamation, TITLE
End Function

' A VBA string as a Python string literal in single quotes.
Private Function PythonText(ByVal text As String) As String
    PythonText = "'" & Replace(Replace(text, "\", "\\"), "'", "\'") & "'"
End Function

Private Sub RememberProtection(ByVal ws As Worksheet, ByVal key As String)
    Dim flags As String
    If mProtection Is Nothing Then Set mProtection = New Collection
    On Error Resume Next
    mProtection.Remove key
    On Error GoTo 0
    With ws.Protection
        flags = Bit(ws.ProtectDrawingObjects) & Bit(ws.ProtectScenarios) & _
            Bit(.AllowFormattingCells) & Bit(.AllowFormattingColumns) & _
            Bit(.AllowFormattingRows) & Bit(.AllowInsertingColumns) & _
            Bit(.AllowInsertingRows) & Bit(.AllowInsertingHyperlinks) & _
            Bit(.AllowDeletingColumns) & Bit(.AllowDeletingRows) & Bit(.AllowSorting) & _
            Bit(.AllowFiltering) & Bit(.AllowUsingPivotTables) & CStr(ws.EnableSelection)
    End With
    mProtection.Add flags, key
End Sub

Private Function RecallProtection(ByVal key As String) As String
    If mProtection Is Nothing Then Exit Function
    On Error Resume Next
    RecallProtection = mProtection(key)
End Function

Private Function Bit(ByVal value As Boolean) As String
    Bit = IIf(value, "1", "0")
End Function

Private Function Flag(ByVal flags As String, ByVal position As Long) As Boolean
    Flag = (Mid$(flags, position, 1) = "1")
End Function
