// All user-facing strings, zh-CN first, then English. Views call t(key); nothing else
// in the client holds display text.

export type Lang = "zh-CN" | "en";

const zh = {
  appName: "Viva 远程答辩",
  joinTitle: "进入会议",
  deviceCheck: "正在请求摄像头和麦克风……",
  deviceDenied: "无法使用摄像头或麦克风：",
  connecting: "正在连接……",
  connected: "已连接",
  reconnectNeeded: "连接已断开，请刷新页面重新进入。",
  leave: "离开会议",
  left: "您已离开会议。",
  you: "我",
  waitingForOthers: "等待其他参会人员加入……",
  error: "错误",
  adminTitle: "Viva 管理",
  signIn: "登录",
  username: "用户名",
  password: "密码",
  signedIn: "已登录",
  bookSession: "预约会议",
  sessionTitle: "会议标题",
  start: "开始时间",
  duration: "时长（分钟）",
  participantsHelp: "参会人员（每行：姓名,角色；角色为 host / applicant / expert / observer / trainer / trainee）",
  book: "预约",
  joinLinks: "个人入会链接",
  language: "English",
  inLobby: "您在等候室，请稍候，主持人将请您进入会场。",
  phase_lobby: "等候开始",
  phase_presentation: "项目陈述",
  phase_qa: "专家提问",
  phase_deliberation: "专家评议",
  phase_scoring: "评分",
  phase_closed: "已结束",
  overtime: "已超时",
  tabBook: "预约会议",
  tabPeople: "人员",
  tabPanels: "专家组",
  tabProjects: "项目",
  tabImport: "导入",
  tabDay: "答辩日安排",
  name: "姓名/名称",
  email: "邮箱",
  organisation: "单位",
  roles: "角色",
  fields: "专业领域（用逗号分隔）",
  create: "新建",
  members: "成员",
  chair: "组长",
  code: "项目编号",
  programme: "计划类别",
  applicant: "申请人",
  field: "领域",
  importKind: "导入内容",
  importFile: "CSV 文件（UTF-8 或 GBK）",
  importRun: "导入",
  importDone: "导入成功：",
  importFailed: "文件有错误，未导入任何数据：",
  line: "行",
  reason: "原因",
  date: "日期",
  dayStart: "开始时间",
  slots: "每组场次",
  presentation: "陈述（分钟）",
  qa: "答辩提问（分钟）",
  deliberation: "评议（分钟）",
  buffer: "间隔（分钟）",
  previewPlan: "试排",
  bookPlan: "排定并发送邀请",
  unplaced: "未能安排",
  booked: "已预约的答辩",
  move: "改期",
  moved: "已改期",
  refused: "被拒绝",
  roles_host: "主持人（秘书）",
  roles_applicant: "申请人",
  roles_expert: "专家",
  roles_observer: "观察员",
  roles_trainer: "培训讲师",
  roles_trainee: "学员",
};

type Key = keyof typeof zh;

const en: Record<Key, string> = {
  appName: "Viva remote defense",
  joinTitle: "Join session",
  deviceCheck: "Asking for camera and microphone…",
  deviceDenied: "Camera or microphone unavailable: ",
  connecting: "Connecting…",
  connected: "Connected",
  reconnectNeeded: "The connection was lost. Reload the page to join again.",
  leave: "Leave",
  left: "You have left the session.",
  you: "Me",
  waitingForOthers: "Waiting for others to join…",
  error: "Error",
  adminTitle: "Viva administration",
  signIn: "Sign in",
  username: "User name",
  password: "Password",
  signedIn: "Signed in",
  bookSession: "Book a session",
  sessionTitle: "Title",
  start: "Start",
  duration: "Duration (minutes)",
  participantsHelp: "Participants (one per line: name,role; role is host / applicant / expert / observer / trainer / trainee)",
  book: "Book",
  joinLinks: "Personal join links",
  language: "中文",
  inLobby: "You are in the lobby. The host will let you in shortly.",
  phase_lobby: "Not started",
  phase_presentation: "Presentation",
  phase_qa: "Questions",
  phase_deliberation: "Deliberation",
  phase_scoring: "Scoring",
  phase_closed: "Closed",
  overtime: "Overtime",
  tabBook: "Book",
  tabPeople: "People",
  tabPanels: "Panels",
  tabProjects: "Projects",
  tabImport: "Import",
  tabDay: "Defense day",
  name: "Name",
  email: "E-mail",
  organisation: "Organisation",
  roles: "Roles",
  fields: "Fields (comma separated)",
  create: "Create",
  members: "Members",
  chair: "Chair",
  code: "Code",
  programme: "Programme",
  applicant: "Applicant",
  field: "Field",
  importKind: "Import",
  importFile: "CSV file (UTF-8 or GBK)",
  importRun: "Import",
  importDone: "Imported: ",
  importFailed: "The file has errors; nothing was imported:",
  line: "Line",
  reason: "Reason",
  date: "Date",
  dayStart: "Start",
  slots: "Slots per panel",
  presentation: "Presentation (min)",
  qa: "Q&A (min)",
  deliberation: "Deliberation (min)",
  buffer: "Buffer (min)",
  previewPlan: "Preview plan",
  bookPlan: "Book and invite",
  unplaced: "Could not be placed",
  booked: "Booked defenses",
  move: "Move",
  moved: "Moved",
  refused: "Refused",
  roles_host: "Host (secretary)",
  roles_applicant: "Applicant",
  roles_expert: "Expert",
  roles_observer: "Observer",
  roles_trainer: "Trainer",
  roles_trainee: "Trainee",
};

const tables: Record<Lang, Record<Key, string>> = { "zh-CN": zh, en };

export function currentLang(): Lang {
  const saved = localStorage.getItem("viva.lang");
  return saved === "en" ? "en" : "zh-CN";
}

export function t(key: Key): string {
  return tables[currentLang()][key];
}

export function roleName(role: string): string {
  const key = `roles_${role}` as Key;
  return key in zh ? t(key) : role;
}

/** Adds a language switch button to `parent`; switching reloads the page. */
export function languageToggle(parent: HTMLElement): void {
  const button = document.createElement("button");
  button.className = "lang";
  button.textContent = t("language");
  button.addEventListener("click", () => {
    localStorage.setItem("viva.lang", currentLang() === "en" ? "zh-CN" : "en");
    location.reload();
  });
  parent.appendChild(button);
  document.documentElement.lang = currentLang();
}
